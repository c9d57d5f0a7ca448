import { createParser, type EventSourceParser } from 'eventsource-parser';
import { ApiError } from '../errors';
import { errorName, log } from '../log';
import type { ToolCallPolicy } from '../tenant';
import { type RelayEvent, type RunErrorCode, runError, toRelayEvent } from './events';

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
  /**
   * The run was ended by its owner (cancelled, nobody came back): the relay stops
   * without an event or a warning of its own, the owner already sent the final one.
   */
  signal?: AbortSignal;
}

/**
 * The upstream's SSE body relayed as {@link RelayEvent}s, parsed incrementally
 * (eventsource-parser: CR, LF and CRLF line ends, split chunks, multi-line data,
 * comments), each handed to `onEvent` as it is parsed (a run's object relays every event
 * of every run it holds this way). It always ends with exactly one `done` or `error`: an
 * upstream that fails or closes early is one `error` event, not a thrown error.
 * The body (or the promise of it, for an upstream whose headers are late) is read in a
 * loop into one buffer of its own (see {@link chunksOf}), not piped into a WritableStream. Resolves once the final event's `onEvent` has settled; the body
 * is cancelled when the relay ends first (timeouts, size cap).
 */
export async function relayInto(
  body: ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>,
  options: RelayOptions,
  onEvent: (event: RelayEvent) => Promise<void> | undefined,
): Promise<void> {
  let last: Promise<void> | undefined;
  let over = false;
  const chunks = chunksOf(body);
  const relayed = relay(options, {
    enqueue: (event) => {
      last = onEvent(event);
    },
    end: () => {
      over = true;
      chunks.cancel(new DOMException('The relay ended.', 'AbortError'));
    },
  });
  const stop = () => {
    relayed.stop();
    over = true;
  };
  options.signal?.addEventListener('abort', stop, { once: true });
  relayed.start();
  let failure: RunErrorCode = 'UPSTREAM_FAILED';
  try {
    for (let chunk = await chunks.read(); chunk && !over; chunk = await chunks.read()) {
      relayed.write(chunk);
    }
    if (!over) relayed.close();
  } catch (error) {
    // The body failed, or was cancelled (the run's fetch aborted): `ended` says what it means.
    // A body still on its way whose headers never came in time is the upstream's timeout.
    if (error instanceof ApiError && error.code === 'UPSTREAM_TIMEOUT') failure = 'UPSTREAM_TIMEOUT';
  }
  options.signal?.removeEventListener('abort', stop);
  relayed.ended(failure);
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
function chunksOf(body: ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>): Chunks {
  if (body instanceof ReadableStream) return readerOf(body);
  // Still on its way (the upstream's headers came after the grace): read once it opens;
  // a relay that ended meanwhile cancels it then.
  const reader = body.then(readerOf);
  reader.catch(() => undefined); // the first read reports it
  return {
    read: async () => (await reader).read(),
    cancel: (reason) =>
      void reader.then(
        (chunks) => chunks.cancel(reason),
        () => undefined,
      ),
  };
}

interface Chunks {
  read(): Promise<Uint8Array | undefined>;
  cancel(reason: unknown): void;
}

function readerOf(body: ReadableStream<Uint8Array>): Chunks {
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

interface Output {
  enqueue(event: RelayEvent): void;
  /** After the final chunk: nothing more is read or written. */
  end(): void;
}

/** The relay's steps, for the loop that reads the body. */
interface Relay {
  start(): void;
  write(chunk: Uint8Array): void;
  close(): void;
  /** The body's reading settled (ended, failed, or cancelled); unfinished, the run ends with `failure`. */
  ended(failure: RunErrorCode): void;
  /** Ends the relay with no event: someone else ended the run. */
  stop(): void;
}

const FEED_SLICE = 16 * 1024;

function relay(options: RelayOptions, out: Output): Relay {
  let finished = false;
  /**
   * Characters fed since the parser last dispatched an event: an upper bound of what it
   * is buffering (data lines, the incomplete line). Comments do not reset it: the parser
   * keeps the data lines around them.
   */
  let pending = 0;
  let dispatched = false;
  let idleTimer: number | null = null;
  let deadline: number | null = null;
  const decoder = new TextDecoder();

  const finish = (last: RelayEvent) => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(deadline);
    try {
      out.enqueue(last);
      out.end();
    } catch {
      // The caller is gone: nothing left to tell.
    }
    options.onEnd();
  };
  const fail = (code: RunErrorCode) => {
    if (!finished) log('warn', 'run stream ended without done', { request_id: options.requestId, code });
    finish(runError(code));
  };
  /**
   * The idle clock is a timestamp, not a timer re-armed per chunk: one timer fires at the
   * earliest moment it could matter and re-arms itself for the remainder.
   */
  let lastChunk = Date.now();
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
        else out.enqueue(event);
      } catch (error) {
        unreadable(error);
      }
    },
  });

  return {
    start() {
      idleTimer = setTimeout(watchIdle, options.idleTimeoutMs);
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
    ended: (failure) => fail(failure),
    stop() {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      clearTimeout(deadline);
      options.onEnd();
    },
  };
}
