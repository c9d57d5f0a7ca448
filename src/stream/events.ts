import { z } from 'zod';
import type { ToolCallPolicy } from '../config';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../json-depth';

/** What the proxy sends on a run stream: the only event types a caller ever sees. */
export type RelayEvent =
  | { type: 'start'; run_id: string }
  | { type: 'content'; delta: string }
  | { type: 'tool_call'; name: string; args?: unknown }
  | { type: 'done' }
  | { type: 'error'; code: RunErrorCode; detail: string };

export type RunErrorCode =
  | 'UPSTREAM_FAILED'
  | 'UPSTREAM_TIMEOUT'
  | 'EVENT_TOO_LARGE'
  | 'STREAM_TOO_LONG'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'RESULT_TOO_LARGE';

/** Fixed, safe wording for each error a stream can end with (no URL, token or stack). */
export const RUN_ERRORS: Record<RunErrorCode, string> = {
  UPSTREAM_FAILED: 'The upstream stopped before the run finished.',
  UPSTREAM_TIMEOUT: 'The upstream stopped sending events.',
  EVENT_TOO_LARGE: 'The upstream sent an event over the size limit.',
  STREAM_TOO_LONG: 'The run exceeded its maximum duration.',
  UPSTREAM_BAD_RESPONSE: 'The upstream sent a stream the gateway cannot read.',
  RESULT_TOO_LARGE: 'The run’s result is over the size limit.',
};

/** The error event a stream ends with. */
export const runError = (code: RunErrorCode): Extract<RelayEvent, { type: 'error' }> => ({
  type: 'error',
  code,
  detail: RUN_ERRORS[code],
});

const UpstreamEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), run_id: z.string().max(256).optional() }),
  z.object({ type: z.literal('content'), delta: z.string() }),
  // `args` is not validated here: a recursive validator overflows the stack on deeply
  // nested JSON, and most policies drop it unread. `full` checks its depth (below).
  z.object({ type: z.literal('tool_call'), name: z.string().max(256), args: z.unknown().optional() }),
  z.object({ type: z.literal('done') }),
]);

/** The types the upstream documents; anything else is dropped. */
const KNOWN = new Set(['start', 'content', 'tool_call', 'done']);

/**
 * Reads one upstream SSE message (`data` already joined by the parser) into the event
 * the proxy relays, rebuilt from parsed fields only, or `null` to drop it: unknown
 * types, unparseable data, and tool calls the tenant's policy hides. A literal
 * `[DONE]` counts as `done`. When `data` has no `type`, the SSE `event:` name is used.
 * A tool call whose arguments (policy `full`) nest deeper than 64 levels cannot be
 * relayed faithfully: it comes back as an `UPSTREAM_BAD_RESPONSE` error, which ends the
 * stream.
 */
export function toRelayEvent(
  message: { event?: string | undefined; data: string },
  policy: ToolCallPolicy,
): RelayEvent | null {
  if (message.data.trim() === '[DONE]') return { type: 'done' };
  let raw: unknown;
  try {
    raw = JSON.parse(message.data);
  } catch {
    return null;
  }
  if (raw && typeof raw === 'object' && !('type' in raw) && message.event && KNOWN.has(message.event)) {
    raw = { ...raw, type: message.event };
  }
  const parsed = UpstreamEvent.safeParse(raw);
  if (!parsed.success) return null;
  const event = parsed.data;
  switch (event.type) {
    case 'start':
      return { type: 'start', run_id: event.run_id ?? '' };
    case 'content':
      return { type: 'content', delta: event.delta };
    case 'tool_call':
      if (policy === 'none') return null;
      if (policy !== 'full') return { type: 'tool_call', name: event.name };
      // The event object is one level; its `args` may have the other 64.
      if (jsonTooDeep(message.data, MAX_JSON_DEPTH + 1)) return runError('UPSTREAM_BAD_RESPONSE');
      return { type: 'tool_call', name: event.name, args: event.args ?? null };
    case 'done':
      return { type: 'done' };
  }
}

/**
 * One SSE frame. The payload is `JSON.stringify`-ed, which escapes every line break,
 * so nothing in a value can end the `data:` line or start another field or event.
 */
export function formatEvent(id: number, event: RelayEvent): string {
  const { type, ...payload } = event;
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
}
