import { formatEvent, type RelayEvent } from './events';

const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');

/** The contract's stream headers: no caching, no transformation, no buffering, no length. */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/**
 * Serializes relay events as SSE frames (`id`, `event`, `data`), each written the
 * moment it arrives, and writes a `: ping` comment whenever `pingMs` pass without an
 * event: it keeps proxies from timing the stream out and lets a caller's disconnect be
 * noticed while the upstream is quiet.
 */
export function sseEncoder(pingMs: number): TransformStream<RelayEvent, Uint8Array> {
  let id = 0;
  let timer: number | null = null;
  let controller: TransformStreamDefaultController<Uint8Array> | undefined;
  const ping = () => {
    try {
      controller?.enqueue(PING);
      timer = setTimeout(ping, pingMs);
    } catch {
      // The stream is closed or cancelled: stop pinging.
    }
  };
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(ping, pingMs);
  };
  return new TransformStream<RelayEvent, Uint8Array>({
    start(c) {
      controller = c;
      rearm();
    },
    transform(event, c) {
      id += 1;
      c.enqueue(encoder.encode(formatEvent(id, event)));
      rearm();
    },
    flush() {
      clearTimeout(timer);
    },
  });
}

/** The non-streaming answer: content concatenated from deltas, tool calls as relayed. */
export interface RunResult {
  run_id: string;
  content: string;
  tool_calls: { name: string; args?: unknown }[];
}

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
