import { z } from '@hono/zod-openapi';
import { JsonValueSchema } from '../json';
import { type RelayEvent, runError } from './events';

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
 * The most a `"stream": false` result may hold, content and tool calls together, in
 * characters: each event is capped by the relay, but their sum would not be otherwise.
 */
export const MAX_RESULT_CHARS = 4 * 1024 * 1024;

/**
 * Reads the relay stream of run `runId` (the id is the run's, not read from a `start`
 * event: a resumed stream has none) to its end for `"stream": false`. Resolves with the result once
 * `done` came, or with the `error` event the stream ended with (`UPSTREAM_FAILED` for one
 * that closed with neither); a result growing past `maxChars` ends with
 * `RESULT_TOO_LARGE` at once (leaving the loop cancels the stream, hence the run).
 */
export async function collectRun(
  runId: string,
  events: ReadableStream<RelayEvent>,
  maxChars: number = MAX_RESULT_CHARS,
): Promise<{ ok: true; result: RunResult } | { ok: false; error: Extract<RelayEvent, { type: 'error' }> }> {
  const result: RunResult = { run_id: runId, content: '', tool_calls: [] };
  const content: string[] = [];
  let size = 0;
  for await (const event of events) {
    if (event.type === 'content') {
      content.push(event.delta);
      size += event.delta.length;
    } else if (event.type === 'tool_call') {
      // Args were depth-checked by the relay, so measuring them cannot overflow.
      size += event.name.length + ('args' in event ? (JSON.stringify(event.args)?.length ?? 0) : 0);
      result.tool_calls.push('args' in event ? { name: event.name, args: event.args } : { name: event.name });
    } else if (event.type === 'error') return { ok: false, error: event };
    else if (event.type === 'done') {
      result.content = content.join('');
      return { ok: true, result };
    }
    if (size > maxChars) return { ok: false, error: runError('RESULT_TOO_LARGE') };
  }
  // Closed with neither `done` nor `error`: the run did not finish, whatever it relayed.
  return { ok: false, error: runError('UPSTREAM_FAILED') };
}
