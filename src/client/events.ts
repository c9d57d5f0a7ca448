import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { RelayEvent } from '../stream/events';

/**
 * One event of a run stream (`POST /v1/threads/{thread_id}/run`), as the gateway sends
 * it: the SSE `event:` name as `type`, plus the fields of its JSON `data`. Derived from
 * the server's own event union; an error's `code` is any string, so a client built
 * today reads codes added later. A `tool_call`'s `args` come only with the tenant's
 * `tool_calls` policy `"full"`.
 */
export type RunEvent =
  | Exclude<RelayEvent, { type: 'error' | 'tool_call' }>
  | (Omit<Extract<RelayEvent, { type: 'tool_call' }>, 'args'> & { args?: unknown })
  | { type: 'error'; code: RelayErrorCode | (string & {}); detail: string };

type RelayErrorCode = Extract<RelayEvent, { type: 'error' }>['code'];

/** The contract's error body, as a thrown error (a non-2xx answer). */
export class EdgeError extends Error {
  override readonly name = 'EdgeError';
  readonly status: number;
  /** The contract's machine-readable code, e.g. `RATE_LIMITED` (`HTTP_ERROR` for a body without one). */
  readonly code: string;
  readonly detail: string;
  /** Quote it when reporting a problem: the gateway's logs are keyed by it. */
  readonly requestId: string | null;
  /** The request field at fault (400s). */
  readonly field: string | undefined;

  constructor(status: number, code: string, detail: string, requestId: string | null, field?: string) {
    super(`${status} ${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
    this.field = field;
  }

  /** Reads the error body of `response` (any body: a proxy in between may send HTML). */
  static async from(response: ResponseLike): Promise<EdgeError> {
    const requestId = response.headers.get('X-Request-Id');
    let body: unknown;
    try {
      body = JSON.parse(await response.text());
    } catch {
      body = undefined;
    }
    const text = (key: string) => (isRecord(body) && typeof body[key] === 'string' ? body[key] : undefined);
    return new EdgeError(
      response.status,
      text('code') ?? 'HTTP_ERROR',
      text('detail') ?? `HTTP ${response.status}`,
      text('request_id') ?? requestId,
      text('field'),
    );
  }
}

/** What {@link runEvents} needs of a response: a `Response` or an `hc` `ClientResponse`. */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
}

/**
 * The run stream of `response` as typed events, each yielded as soon as its frame
 * arrives; `: ping` comments and event types this client does not know are skipped.
 * Ends after `done` or `error` (the gateway sends exactly one of them last).
 *
 * Throws an {@link EdgeError} when the answer is not a stream (e.g. `429`), and an
 * `Error` when the stream breaks off before `done` or `error`. Leaving the loop early
 * (`break`, `return`, a throw) cancels the body, which cancels the run upstream.
 */
export async function* runEvents(response: ResponseLike): AsyncGenerator<RunEvent, void, undefined> {
  for await (const { event } of runFrames(response)) yield event;
}

/** One event of a run stream with its SSE id (`<run_id>:<n>`). */
export interface RunFrame {
  id: string | undefined;
  event: RunEvent;
}

/** {@link runEvents} with each event's id, for callers that resume (src/client/runs.ts). */
export async function* runFrames(response: ResponseLike): AsyncGenerator<RunFrame, void, undefined> {
  if (!response.ok) throw await EdgeError.from(response);
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.body || !type.startsWith('text/event-stream')) {
    throw new TypeError(`Expected an event stream, got ${type || 'no body'}.`);
  }
  const pending: RunFrame[] = [];
  const parser = createParser({
    onEvent(message) {
      const event = toRunEvent(message);
      if (event) pending.push({ id: message.id, event });
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      for (const frame of pending.splice(0)) {
        yield frame;
        if (frame.event.type === 'done' || frame.event.type === 'error') return;
      }
    }
    throw new StreamBrokenError();
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The stream ended (or the connection broke) before `done` or `error`: resume it. */
export class StreamBrokenError extends Error {
  override readonly name = 'StreamBrokenError';

  constructor() {
    super('The run stream ended before `done` or `error`.');
  }
}

/** Checks a frame's fields before typing it; a known type with bad fields is an error. */
function toRunEvent({ event, data }: EventSourceMessage): RunEvent | null {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    payload = undefined;
  }
  const p = isRecord(payload) ? payload : {};
  const str = (key: string) => (typeof p[key] === 'string' ? p[key] : undefined);
  let parsed: RunEvent | undefined;
  switch (event) {
    case 'start': {
      const run_id = str('run_id');
      if (run_id !== undefined) parsed = { type: 'start', run_id };
      break;
    }
    case 'content': {
      const delta = str('delta');
      if (delta !== undefined) parsed = { type: 'content', delta };
      break;
    }
    case 'tool_call': {
      const name = str('name');
      if (name !== undefined)
        parsed = 'args' in p ? { type: event, name, args: p.args } : { type: event, name };
      break;
    }
    case 'done':
      parsed = { type: 'done' };
      break;
    case 'error': {
      const code = str('code');
      const detail = str('detail');
      if (code !== undefined && detail !== undefined) parsed = { type: 'error', code, detail };
      break;
    }
    default:
      return null;
  }
  if (!parsed) throw new TypeError(`Malformed \`${event}\` event in the run stream.`);
  return parsed;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
