import { z } from '@hono/zod-openapi';
import { JsonValueSchema } from '../json';
import type { RelayEvent } from './events';

/** The contract's stream headers: no caching, no transformation, no buffering, no length. */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/**
 * A run's result: content concatenated from deltas, tool calls as relayed. The one
 * schema of it: the `"stream": false` answer, a webhook delivery's stored result and
 * its callback all use it.
 */
export const RunResultSchema = z.object({
  run_id: z.string(),
  content: z.string(),
  tool_calls: z.array(z.object({ name: z.string(), args: JsonValueSchema.optional() })),
});
export type RunResult = z.infer<typeof RunResultSchema>;

/**
 * Reads a relay stream to its end for `"stream": false`. Resolves with the result, or
 * with the `error` event the stream ended with.
 */
export async function collectRun(
  events: ReadableStream<RelayEvent>,
): Promise<{ ok: true; result: RunResult } | { ok: false; error: Extract<RelayEvent, { type: 'error' }> }> {
  const result: RunResult = { run_id: '', content: '', tool_calls: [] };
  for await (const event of events) {
    if (event.type === 'start') result.run_id = event.run_id;
    else if (event.type === 'content') result.content += event.delta;
    else if (event.type === 'tool_call')
      result.tool_calls.push(
        event.type === 'tool_call' && 'args' in event
          ? { name: event.name, args: event.args }
          : { name: event.name },
      );
    else if (event.type === 'error') return { ok: false, error: event };
  }
  return { ok: true, result };
}
