import { z } from 'zod';
import { ApiError, type ErrorCode } from '../errors';
import { JsonValueSchema } from '../json';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../json-depth';
import type { ToolCallPolicy } from '../tenant';

/** What the proxy sends on a run stream: the only event types a caller ever sees. */
export type RelayEvent = z.infer<typeof RelayEventSchema>;

/**
 * Each error a run can end with: its fixed, safe wording (no URL, token or stack), the
 * contract error it becomes where a run answers as one HTTP response (`"stream": false`),
 * and whether a background job (a webhook run) should try the run again.
 */
export const RUN_ERRORS = {
  UPSTREAM_FAILED: {
    detail: 'The upstream stopped before the run finished.',
    as: 'UPSTREAM_BAD_RESPONSE',
    retry: true,
  },
  UPSTREAM_TIMEOUT: { detail: 'The upstream did not answer in time.', as: 'UPSTREAM_TIMEOUT', retry: true },
  EVENT_TOO_LARGE: {
    detail: 'The upstream sent an event over the size limit.',
    as: 'UPSTREAM_BAD_RESPONSE',
    retry: false,
  },
  STREAM_TOO_LONG: { detail: 'The run exceeded its maximum duration.', as: 'UPSTREAM_TIMEOUT', retry: false },
  UPSTREAM_BAD_RESPONSE: {
    detail: 'The upstream sent a stream the gateway cannot read.',
    as: 'UPSTREAM_BAD_RESPONSE',
    retry: true,
  },
  RESULT_TOO_LARGE: {
    detail: 'The run’s result is over the size limit.',
    as: 'UPSTREAM_BAD_RESPONSE',
    retry: false,
  },
  RUN_CANCELLED: { detail: 'The run was cancelled.', as: 'RUN_CANCELLED', retry: false },
  RUN_LOST: { detail: 'The run was lost with the object that ran it.', as: 'RUN_LOST', retry: true },
} as const satisfies Record<string, { detail: string; as: ErrorCode; retry: boolean }>;

export type RunErrorCode = keyof typeof RUN_ERRORS;

const RunErrorCodeSchema = z.custom<RunErrorCode>(
  (value) => typeof value === 'string' && Object.hasOwn(RUN_ERRORS, value),
);

/**
 * The run-event union, the one schema of it: what the relay emits, what a run's log
 * keeps, and (derived from it) the typed client's `RunEvent`.
 */
export const RelayEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), run_id: z.string() }),
  z.object({ type: z.literal('content'), delta: z.string() }),
  z.object({ type: z.literal('tool_call'), name: z.string(), args: JsonValueSchema.optional() }),
  z.object({ type: z.literal('done') }),
  z.object({ type: z.literal('error'), code: RunErrorCodeSchema, detail: z.string() }),
]);

/** The error event a stream ends with. */
export const runError = (code: RunErrorCode): Extract<RelayEvent, { type: 'error' }> => ({
  type: 'error',
  code,
  detail: RUN_ERRORS[code].detail,
});

/** The contract error a run that ended with `code` answers as one HTTP response. */
export const runFailure = (code: RunErrorCode): ApiError =>
  new ApiError(RUN_ERRORS[code].as, RUN_ERRORS[code].detail);

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
      return toolCallWithArgs(event.name, event.args ?? null);
    case 'done':
      return { type: 'done' };
  }
}

/**
 * One SSE frame. The payload is `JSON.stringify`-ed, which escapes every line break,
 * so nothing in a value can end the `data:` line or start another field or event.
 */
export function formatEvent(id: number | string, event: RelayEvent): string {
  const { type, ...payload } = event;
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** A `full` tool call; its arguments came from `JSON.parse`, so they are JSON (checked, not cast). */
function toolCallWithArgs(name: string, args: unknown): RelayEvent {
  const parsed = JsonValueSchema.safeParse(args);
  return parsed.success ? { type: 'tool_call', name, args: parsed.data } : runError('UPSTREAM_BAD_RESPONSE');
}
