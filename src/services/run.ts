import { MAX_EVENT_BYTES } from '../config';
import { ApiError } from '../errors';
import { meter } from '../metering/usage';
import { type RelayEvent, runFailure } from '../stream/events';
import { type RelayEnd, type RelayOptions, relayEvents, relaySse } from '../stream/relay';
import { collectRun, type RunResult } from '../stream/sse';
import { discard } from '../upstream/http';
import type { Hold } from './admission';
import { projectScope, type RequestContext } from './context';

/**
 * Starts a run on the caller's thread and returns its events as the proxy relays
 * them. Admission already checked ownership and took the stream slot (`lease`); the
 * relay takes the hold and gives the slot back however the stream ends (done, error,
 * caller gone, exception). A 401 before the first byte is refreshed and replayed once
 * by the upstream client; after it, the stream ends with an error event.
 */
export function startRun(
  ctx: RequestContext,
  lease: Hold,
  threadId: string,
  message: string,
): Promise<ReadableStream<RelayEvent>>;
/** The same, written out as SSE frames with a heartbeat every `pingMs`. */
export function startRun(
  ctx: RequestContext,
  lease: Hold,
  threadId: string,
  message: string,
  sse: { pingMs: number },
): Promise<ReadableStream<Uint8Array>>;
export async function startRun(
  ctx: RequestContext,
  lease: Hold,
  threadId: string,
  message: string,
  sse?: { pingMs: number },
): Promise<ReadableStream<RelayEvent> | ReadableStream<Uint8Array>> {
  const upstreamAbort = new AbortController();
  const onCallerGone = () => upstreamAbort.abort(new DOMException('The caller went away.', 'AbortError'));
  ctx.signal.addEventListener('abort', onCallerGone, { once: true });

  const opened = openRun(ctx, threadId, message, upstreamAbort.signal);
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
    ctx.signal.removeEventListener('abort', onCallerGone);
    throw early.error;
  }

  const leaseId = lease.claim();
  const startedAt = Date.now();
  meter(ctx, { runs_started: 1 });
  // Registered now, while the request is live: work chained on a stream's end after the
  // caller has hung up does not run unless the request was kept alive for it
  // (shared/design/runtime-facts.md), so the slot is released (and the run's end metered)
  // through this promise.
  let ended: () => void = () => undefined;
  ctx.defer(
    new Promise<void>((resolve) => {
      ended = resolve;
    }).then(() => Promise.all([ctx.state.releaseLease(leaseId), ctx.usage.ship()])),
  );
  const options: RelayOptions = {
    policy: ctx.tenant.tool_calls,
    idleTimeoutMs: ctx.config.stream.idleTimeoutMs,
    maxDurationMs: ctx.config.stream.maxDurationMs,
    maxEventBytes: MAX_EVENT_BYTES,
    requestId: ctx.requestId,
    callerSignal: ctx.signal,
    onEnd: (end) => {
      ctx.signal.removeEventListener('abort', onCallerGone);
      upstreamAbort.abort(new DOMException('The run stream ended.', 'AbortError'));
      meterRunEnd(ctx, end, startedAt);
      ended();
    },
  };
  return sse ? relaySse(body, options, sse.pingMs) : relayEvents(body, options);
}

/**
 * A run's end, metered: its events and time, and whether it completed (`done`) or was
 * cancelled (its caller left before the end; an upstream failure is neither). The run
 * object the gateway is moving to (durable runs) calls the same `meter`.
 */
function meterRunEnd(ctx: RequestContext, end: RelayEnd, startedAt: number): void {
  const outcome = end.last === 'done' ? { runs_completed: 1 } : end.callerLeft ? { runs_cancelled: 1 } : {};
  meter(ctx, { events: end.events, run_ms: Date.now() - startedAt, ...outcome });
}

/** How long a streaming run waits for the upstream's headers before it starts anyway. */
const HEADER_GRACE_MS = 2_000;

/** The upstream's event-stream body, or the `ApiError` that stands for its answer. */
async function openRun(
  ctx: RequestContext,
  threadId: string,
  message: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const res = await ctx.upstream.stream({
    method: 'POST',
    path: ['threads', threadId, 'run'],
    json: { message, stream: true },
    scope: projectScope(ctx),
    timeoutMs: ctx.config.stream.firstByteTimeoutMs,
    signal,
  });
  if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
    await discard(res);
    throw new ApiError('UPSTREAM_BAD_RESPONSE', 'The upstream did not answer with an event stream.');
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

/**
 * Runs to the end for `"stream": false`: the result, or the run's error as the
 * contract error it stands for (`RUN_ERRORS` in stream/events.ts).
 */
export async function runToEnd(
  ctx: RequestContext,
  lease: Hold,
  threadId: string,
  message: string,
): Promise<RunResult> {
  const outcome = await collectRun(await startRun(ctx, lease, threadId, message));
  if (!outcome.ok) throw runFailure(outcome.error.code);
  return outcome.result;
}
