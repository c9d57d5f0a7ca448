import { MAX_EVENT_BYTES } from '../config';
import { ApiError } from '../errors';
import type { RelayEvent } from '../stream/events';
import { type RelayOptions, relayEvents, relaySse } from '../stream/relay';
import { discard } from '../upstream/http';
import { admitted, type Gateway, projectScope } from './gateway';

/**
 * Starts a run on the caller's thread and returns its events as the proxy relays
 * them. The route's admission already checked ownership and took a stream lease;
 * this hands the lease to the relay, which gives it back however the stream ends
 * (done, error, caller gone, exception). A 401 before the first byte is refreshed and
 * replayed once by the upstream client; after it, the stream ends with an error event.
 */
export function startRun(gw: Gateway, threadId: string, message: string): Promise<ReadableStream<RelayEvent>>;
/** The same, written out as SSE frames with a heartbeat every `pingMs`. */
export function startRun(
  gw: Gateway,
  threadId: string,
  message: string,
  sse: { pingMs: number },
): Promise<ReadableStream<Uint8Array>>;
export async function startRun(
  gw: Gateway,
  threadId: string,
  message: string,
  sse?: { pingMs: number },
): Promise<ReadableStream<RelayEvent> | ReadableStream<Uint8Array>> {
  const { lease } = admitted(gw);
  const upstreamAbort = new AbortController();
  const onCallerGone = () => upstreamAbort.abort(new DOMException('The caller went away.', 'AbortError'));
  gw.signal.addEventListener('abort', onCallerGone, { once: true });

  const opened = openRun(gw, threadId, message, upstreamAbort.signal);
  let body: ReadableStream<Uint8Array>;
  // The upstream usually answers its headers at once: its refusals (404, 503, ...) then
  // reach the caller as HTTP statuses. One that takes longer does not leave the caller
  // with nothing: past a short grace the stream starts, pings flow while the upstream
  // gets ready, and a failure from then on is the stream's error event.
  const early = sse
    ? await settledWithin(opened, Math.min(HEADER_GRACE_MS, sse.pingMs))
    : await settled(opened);
  if (early === undefined) {
    body = lateBody(opened);
  } else if (early.ok) {
    body = early.value;
  } else {
    gw.signal.removeEventListener('abort', onCallerGone);
    throw early.error;
  }

  if (lease) gw.claimed.add(lease);
  const options: RelayOptions = {
    policy: gw.tenant.tool_calls,
    idleTimeoutMs: gw.config.stream.idleTimeoutMs,
    maxDurationMs: gw.config.stream.maxDurationMs,
    maxEventBytes: MAX_EVENT_BYTES,
    requestId: gw.requestId,
    callerSignal: gw.signal,
    onEnd: () => {
      gw.signal.removeEventListener('abort', onCallerGone);
      upstreamAbort.abort(new DOMException('The run stream ended.', 'AbortError'));
      if (lease) gw.defer(gw.state.releaseLease(lease));
    },
  };
  return sse ? relaySse(body, options, sse.pingMs) : relayEvents(body, options);
}

/** How long a streaming run waits for the upstream's headers before it starts anyway. */
const HEADER_GRACE_MS = 2_000;

/** The upstream's event-stream body, or the `ApiError` that stands for its answer. */
async function openRun(
  gw: Gateway,
  threadId: string,
  message: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const res = await gw.upstream.stream({
    method: 'POST',
    path: ['threads', threadId, 'run'],
    json: { message, stream: true },
    scope: projectScope(gw),
    timeoutMs: gw.config.stream.firstByteTimeoutMs,
    signal,
  });
  if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
    await discard(res);
    throw new ApiError(502, 'UPSTREAM_BAD_RESPONSE', 'The upstream did not answer with an event stream.');
  }
  return res.body;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const settled = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );

/** `promise`'s outcome if it settles within `ms`, else `undefined` (the promise goes on). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T> | undefined> {
  let timer: number | null = null;
  const grace = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([settled(promise), grace]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A body for a run whose upstream has not answered yet: the upstream body is piped in
 * once it opens; if it never does, the body errors and the relay ends the stream with
 * one error event. The caller cancelling cancels the pipe, hence the upstream body.
 */
function lateBody(opened: Promise<ReadableStream<Uint8Array>>): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  opened
    .then(
      (upstream) => upstream.pipeTo(writable),
      (error: unknown) => writable.abort(error),
    )
    .catch(() => undefined); // the relay reports the failure as the stream's error event
  return readable;
}
