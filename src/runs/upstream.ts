import type { Config } from '../config';
import { ApiError } from '../errors';
import { errorName, log } from '../log';
import type { RunErrorCode } from '../stream/events';
import type { Tenant } from '../tenant';
import type { UpstreamClient } from '../upstream/client';
import { projectScope } from '../upstream/factory';
import { discard } from '../upstream/http';
import type { StartOutcome } from './schema';

/** What opening a run needs: the client, the tenant's project, the first-byte timeout. */
export interface UpstreamDeps {
  upstream: UpstreamClient;
  tenant: Pick<Tenant, 'project_id'>;
  config: { stream: Pick<Config['stream'], 'firstByteTimeoutMs'> };
}

/** How long a run waits for the upstream's headers before it starts anyway, with pings. */
export const HEADER_GRACE_MS = 2_000;

/**
 * The upstream's run stream (or, past the grace, the promise of it), or its refusal (an
 * HTTP answer) when it came within the grace.
 */
export type Opened = { ok: true; body: RunBody } | { ok: false; error: unknown };

/** A run's upstream body, or the promise of it (its headers came after the grace). */
export type RunBody = ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;

/**
 * Opens the upstream run stream. The upstream usually answers its headers at once: its
 * refusals (404, 503, ...) then reach the caller as HTTP statuses. One that takes longer
 * does not leave the caller with nothing: past `graceMs` the run starts on the promise of
 * the body (the relay reads it once it opens, as it would have: no pipe in between), and a
 * failure from then on is the run's error event. `signal` aborts the upstream fetch
 * (cancel, detach, end).
 */
export async function openUpstream(
  ctx: UpstreamDeps,
  threadId: string,
  message: string,
  signal: AbortSignal,
  graceMs: number,
): Promise<Opened> {
  const opened = request(ctx, threadId, message, signal);
  const early = await settledWithin(opened, graceMs);
  if (early === undefined) return { ok: true, body: opened };
  return early.ok ? { ok: true, body: early.value } : early;
}

async function request(
  ctx: UpstreamDeps,
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

/** `promise`'s outcome if it settles within `ms`, else `undefined` (the promise goes on). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T> | undefined> {
  let timer: number | null = null;
  const grace = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  const outcome = promise.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
  try {
    return await Promise.race([outcome, grace]);
  } finally {
    clearTimeout(timer);
  }
}

/** The upstream's refusal of a run as the contract's error, for the starting caller. */
export function refusal(error: unknown, requestId: string, mayHaveSpent: boolean): StartOutcome {
  const spent = mayHaveSpent ? { mayHaveSpent: true as const } : {};
  if (error instanceof ApiError) {
    const outcome: StartOutcome = { kind: 'refused', code: error.code, detail: error.detail, ...spent };
    if (error.retryAfter !== undefined) outcome.retryAfter = error.retryAfter;
    return outcome;
  }
  log('error', 'run refused: unexpected error', { request_id: requestId, error: errorName(error) });
  return { kind: 'refused', code: 'UPSTREAM_UNAVAILABLE', detail: 'The upstream is unavailable.', ...spent };
}

/** The same refusal as the error event a retry that attached to the refused run ends with. */
export const refusedAs = (error: unknown): RunErrorCode =>
  error instanceof ApiError && error.code === 'UPSTREAM_TIMEOUT' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED';
