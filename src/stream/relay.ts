import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { ToolCallPolicy } from '../config';
import { errorName, log } from '../log';
import { formatEvent, type RelayEvent, type RunErrorCode, runError, toRelayEvent } from './events';

/** Limits of one run stream; all in milliseconds but `maxEventBytes`. */
export interface RelayOptions {
  policy: ToolCallPolicy;
  /** No bytes from the upstream for this long ends the stream with `UPSTREAM_TIMEOUT`. */
  idleTimeoutMs: number;
  /** The whole run may take at most this long (`STREAM_TOO_LONG`). */
  maxDurationMs: number;
  /**
   * One event may be at most this big: its data, and everything fed to the parser since
   * the last event it dispatched (comments do not count as events), in characters.
   */
  maxEventBytes: number;
  /** Called once when the stream ends, however it ends (release leases, abort the fetch). */
  onEnd: () => void;
  requestId: string;
  /** The caller's request signal: when it has fired, an early end is the caller leaving. */
  callerSignal?: AbortSignal;
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
  return asStream(body, (out) => relay(options, (event) => event, out));
}

/**
 * The same relay, each event handed to `onEvent` as it is parsed, with no stream of
 * events in between (a run's object relays every event of every run it holds this way).
 * The body is read in a loop into one buffer of its own (see {@link chunksOf}), not piped
 * into a WritableStream. Resolves once the final event's `onEvent` has settled; the body
 * is cancelled when the relay ends first (timeouts, size cap).
 */
export async function relayInto(
  body: ReadableStream<Uint8Array>,
  options: RelayOptions,
  onEvent: (event: RelayEvent) => Promise<void> | undefined,
): Promise<void> {
  let last: Promise<void> | undefined;
  let over = false;
  const chunks = chunksOf(body);
  const relayed = relay(options, (event) => event, {
    enqueue: (event) => {
      last = onEvent(event);
    },
    end: () => {
      over = true;
      chunks.cancel(new DOMException('The relay ended.', 'AbortError'));
    },
  });
  relayed.start();
  try {
    for (let chunk = await chunks.read(); chunk && !over; chunk = await chunks.read()) {
      relayed.write(chunk);
    }
    if (!over) relayed.close();
  } catch {
    // The body failed, or was cancelled (the run's fetch aborted): `ended` says what it means.
  }
  relayed.ended();
  await last;
}

/** What one read of an upstream body asks for: SSE events are small, most fit whole. */
const READ_BYTES = 4096;

/**
 * The body's chunks, read into one reused buffer when it is a byte stream (a fetch body
 * is). A default reader allocates a fresh buffer for every chunk, off the JS heap, which
 * lives until the next garbage collection: with a thousand runs open that was most of
 * workerd's memory per run (measured: RSS grew ~20 KiB per run per event while the live
 * heap stayed flat). A chunk is valid until the next `read`.
 */
function chunksOf(body: ReadableStream<Uint8Array>): {
  read(): Promise<Uint8Array | undefined>;
  cancel(reason: unknown): void;
} {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    // Not a byte stream (a stream made in JS): chunks as they come.
  }
  if (byob === undefined) {
    const reader = body.getReader();
    return {
      read: async () => {
        const next = await reader.read();
        return next.done ? undefined : next.value;
      },
      cancel: (reason) => void reader.cancel(reason).catch(() => undefined),
    };
  }
  const reader = byob;
  let buffer = new ArrayBuffer(READ_BYTES);
  return {
    read: async () => {
      const next = await reader.read(new Uint8Array(buffer));
      if (next.done || next.value === undefined) return undefined;
      buffer = next.value.buffer;
      return next.value;
    },
    cancel: (reason) => void reader.cancel(reason).catch(() => undefined),
  };
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
  return asStream(body, (out) =>
    relay(options, (event) => encoder.encode(formatEvent(++id, event)), out, { ms: pingMs, chunk: PING }),
  );
}

/** Where the relay writes: a stream's controller, or a consumer's callback. */
interface Output<T> {
  enqueue(chunk: T): void;
  /** After the final chunk: nothing more is read or written. */
  end(): void;
}

/** The relay's steps, for the stream (or sink) the body is piped into. */
interface Relay {
  start(): void;
  write(chunk: Uint8Array): void;
  close(): void;
  /** The body's pipe settled (ended, failed, or cancelled because the caller left). */
  ended(): void;
}

/**
 * The relay as a TransformStream the body is piped into with `preventAbort`: an upstream
 * failure becomes one `error` event and a clean close; a caller who cancels errors the
 * transform, and the pipe cancels the upstream body.
 */
function asStream<T>(body: ReadableStream<Uint8Array>, make: (out: Output<T>) => Relay): ReadableStream<T> {
  let controller: TransformStreamDefaultController<T> | undefined;
  const relayed = make({
    enqueue: (chunk) => controller?.enqueue(chunk),
    end: () => controller?.terminate(),
  });
  const transform = new TransformStream<Uint8Array, T>({
    start(c) {
      controller = c;
      relayed.start();
    },
    transform: relayed.write,
    flush: relayed.close,
  });
  body.pipeTo(transform.writable, { preventAbort: true }).then(relayed.ended, relayed.ended);
  return transform.readable;
}

const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');

/** Characters fed to the parser at a time: the precision of the event size count. */
const FEED_SLICE = 16 * 1024;

function relay<T>(
  options: RelayOptions,
  emit: (event: RelayEvent) => T,
  out: Output<T>,
  ping?: { ms: number; chunk: T },
): Relay {
  let finished = false;
  /**
   * Characters fed since the parser last dispatched an event: an upper bound of what it
   * is buffering (data lines, the incomplete line). Comments do not reset it: the parser
   * keeps the data lines around them.
   */
  let pending = 0;
  let dispatched = false;
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
      out.enqueue(emit(last));
      out.end();
    } catch {
      // The caller is gone: nothing left to tell.
    }
    options.onEnd();
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
    out.enqueue(chunk);
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

  /** Anything that throws while one upstream event is handled ends the stream, once. */
  const unreadable = (error: unknown) => {
    log('warn', 'run stream: unreadable upstream event', {
      request_id: options.requestId,
      error: errorName(error),
    });
    fail('UPSTREAM_BAD_RESPONSE');
  };

  const parser: EventSourceParser = createParser({
    onEvent(message) {
      dispatched = true;
      if (finished) return;
      try {
        if (message.data.length > options.maxEventBytes) return fail('EVENT_TOO_LARGE');
        const event = toRelayEvent(message, options.policy);
        if (event === null) return;
        if (event.type === 'done') finish(event);
        else if (event.type === 'error') fail(event.code);
        else send(emit(event));
      } catch (error) {
        unreadable(error);
      }
    },
  });

  return {
    start() {
      idleTimer = setTimeout(watchIdle, options.idleTimeoutMs);
      if (ping) pingTimer = setTimeout(() => heartbeat(ping.ms, ping.chunk), ping.ms);
      deadline = setTimeout(() => fail('STREAM_TOO_LONG'), options.maxDurationMs);
    },
    write(chunk) {
      if (finished) return;
      lastChunk = Date.now();
      const text = decoder.decode(chunk, { stream: true });
      // Fed in slices, so the count knows (to within one slice) which characters came
      // after the last event: a chunk that ends one event and starts a huge one is
      // counted from where the huge one starts, not forgotten whole.
      for (let at = 0; at < text.length && !finished; at += FEED_SLICE) {
        const slice = text.length <= FEED_SLICE ? text : text.slice(at, at + FEED_SLICE);
        dispatched = false;
        try {
          parser.feed(slice);
        } catch (error) {
          return unreadable(error);
        }
        pending = dispatched ? 0 : pending + slice.length;
        if (pending > options.maxEventBytes) return fail('EVENT_TOO_LARGE');
      }
    },
    close() {
      try {
        parser.feed(decoder.decode());
        parser.reset({ consume: true });
      } catch (error) {
        return unreadable(error);
      }
      // The upstream closed without `done`: the run did not finish.
      fail('UPSTREAM_FAILED');
    },
    // Settles when the upstream ends, fails, or is cancelled because the caller left; a
    // stream that was not already finished by then did not complete.
    ended: () => fail('UPSTREAM_FAILED'),
  };
}
