import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { ToolCallPolicy } from '../config';
import { log } from '../log';
import { formatEvent, type RelayEvent, type RunErrorCode, runError, toRelayEvent } from './events';

/** Limits of one run stream; all in milliseconds but `maxEventBytes`. */
export interface RelayOptions {
  policy: ToolCallPolicy;
  /** No bytes from the upstream for this long ends the stream with `UPSTREAM_TIMEOUT`. */
  idleTimeoutMs: number;
  /** The whole run may take at most this long (`STREAM_TOO_LONG`). */
  maxDurationMs: number;
  /** One event (bytes buffered before its blank line) may be at most this big. */
  maxEventBytes: number;
  /** Called once when the stream ends, however it ends (release leases, abort the fetch, meter). */
  onEnd: (end: RelayEnd) => void;
  requestId: string;
  /** The caller's request signal: when it has fired, an early end is the caller leaving. */
  callerSignal?: AbortSignal;
}

/** How a relayed stream ended, for metering. */
export interface RelayEnd {
  /** Events relayed (the final `done` or `error` included; pings are not events). */
  events: number;
  /** The final event's type. */
  last: 'done' | 'error';
  /** The caller had gone when it ended. */
  callerLeft: boolean;
}

/**
 * The upstream's SSE body as a stream of {@link RelayEvent}s, parsed incrementally
 * (eventsource-parser: CR, LF and CRLF line ends, split chunks, multi-line data,
 * comments) and written out event by event, never buffered. It always ends with
 * exactly one `done` or `error`.
 *
 * The body is piped into a TransformStream with `preventAbort`, so an upstream failure
 * does not tear the caller's stream down: the pipe's rejection is turned into one
 * `error` event and a clean close. Cancellation travels the other way by itself: when
 * the caller cancels, the transform errors and the pipe cancels the upstream body.
 */
export function relayEvents(
  body: ReadableStream<Uint8Array>,
  options: RelayOptions,
): ReadableStream<RelayEvent> {
  return relay(body, options, (event) => event);
}

/**
 * The same relay written straight out as SSE frames (`id`, `event`, `data`) in the one
 * TransformStream: no second stage, no second queue per stream. A `: ping` comment goes
 * out whenever `pingMs` pass without a frame: it keeps intermediaries from timing the
 * stream out, and lets a caller's disconnect be noticed while the upstream is quiet.
 */
export function relaySse(
  body: ReadableStream<Uint8Array>,
  options: RelayOptions,
  pingMs: number,
): ReadableStream<Uint8Array> {
  let id = 0;
  return relay(body, options, (event) => encoder.encode(formatEvent(++id, event)), {
    ms: pingMs,
    chunk: PING,
  });
}

const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');

function relay<T>(
  body: ReadableStream<Uint8Array>,
  options: RelayOptions,
  emit: (event: RelayEvent) => T,
  ping?: { ms: number; chunk: T },
): ReadableStream<T> {
  let controller: TransformStreamDefaultController<T> | undefined;
  let finished = false;
  /** Bytes fed since the parser last completed an event: what it may be buffering. */
  let pendingBytes = 0;
  let dispatched = false;
  let events = 0;
  let idleTimer: number | null = null;
  let pingTimer: number | null = null;
  let deadline: number | null = null;
  const decoder = new TextDecoder();

  const finish = (last: RelayEvent) => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(deadline);
    clearTimeout(pingTimer);
    try {
      controller?.enqueue(emit(last));
      events += 1;
      controller?.terminate();
    } catch {
      // The caller is gone: nothing left to tell.
    }
    options.onEnd({
      events,
      last: last.type === 'done' ? 'done' : 'error',
      callerLeft: options.callerSignal?.aborted === true,
    });
  };
  const fail = (code: RunErrorCode) => {
    if (!finished) {
      if (options.callerSignal?.aborted)
        log('info', 'run stream: caller left', { request_id: options.requestId });
      else log('warn', 'run stream ended without done', { request_id: options.requestId, code });
    }
    finish(runError(code));
  };
  /**
   * The clocks are timestamps, not timers re-armed per event: one timer per clock fires
   * at the earliest moment it could matter and re-arms itself for the remainder.
   */
  let lastSent = Date.now();
  let lastChunk = Date.now();
  const send = (chunk: T) => {
    controller?.enqueue(chunk);
    lastSent = Date.now();
  };
  const heartbeat = (ms: number, chunk: T) => {
    if (finished) return;
    const wait = lastSent + ms - Date.now();
    if (wait <= 0) {
      try {
        send(chunk);
      } catch {
        return; // The caller is gone; the pipe's end will finish the stream.
      }
    }
    pingTimer = setTimeout(() => heartbeat(ms, chunk), wait > 0 ? wait : ms);
  };
  const watchIdle = () => {
    if (finished) return;
    const wait = lastChunk + options.idleTimeoutMs - Date.now();
    if (wait <= 0) return fail('UPSTREAM_TIMEOUT');
    idleTimer = setTimeout(watchIdle, wait);
  };

  const parser: EventSourceParser = createParser({
    onEvent(message) {
      dispatched = true;
      if (finished) return;
      if (message.data.length > options.maxEventBytes) return fail('EVENT_TOO_LARGE');
      const event = toRelayEvent(message, options.policy);
      if (event === null) return;
      if (event.type === 'done') finish(event);
      else {
        send(emit(event));
        events += 1;
      }
    },
    onComment() {
      dispatched = true;
    },
  });

  const transform = new TransformStream<Uint8Array, T>({
    start(c) {
      controller = c;
      idleTimer = setTimeout(watchIdle, options.idleTimeoutMs);
      if (ping) pingTimer = setTimeout(() => heartbeat(ping.ms, ping.chunk), ping.ms);
      deadline = setTimeout(() => fail('STREAM_TOO_LONG'), options.maxDurationMs);
    },
    transform(chunk) {
      if (finished) return;
      lastChunk = Date.now();
      dispatched = false;
      parser.feed(decoder.decode(chunk, { stream: true }));
      pendingBytes = dispatched ? 0 : pendingBytes + chunk.byteLength;
      if (pendingBytes > options.maxEventBytes) fail('EVENT_TOO_LARGE');
    },
    flush() {
      parser.feed(decoder.decode());
      parser.reset({ consume: true });
      // The upstream closed without `done`: the run did not finish.
      fail('UPSTREAM_FAILED');
    },
  });

  // Settles when the upstream ends, fails, or is cancelled because the caller left; a
  // stream that was not already finished by then did not complete.
  const ended = () => fail('UPSTREAM_FAILED');
  body.pipeTo(transform.writable, { preventAbort: true }).then(ended, ended);
  return transform.readable;
}
