import { createMiddleware } from 'hono/factory';
import { IdSchema } from '../config';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { lastObservation } from '../limits/observations';
import { rateLimitHeaders, ratePolicies } from '../limits/policy';
import { errorName, log } from '../log';
import type { Admission, AdmitRequest } from '../objects/tenant-state';
import { gateway } from '../services/gateway';
import { keyOf } from '../upstream/tokens';

/** What a route needs admitted before it runs. */
export interface AdmissionSpec {
  /** Ownership gate on a path parameter (`thread_id` or `file_id`). */
  owns?: { kind: 'thread' | 'file'; param: string };
  reserveThread?: boolean;
  /** Take a concurrent-stream slot (runs). */
  lease?: boolean;
  want?: AdmitRequest['want'];
  /**
   * Cheap reads that touch no per-user data may pass when the limiter cannot answer
   * (counted in the log); everything else fails closed with 503.
   */
  failOpen?: boolean;
  /** Whether the route calls the upstream (default true): it then needs a governor permit. */
  upstream?: boolean;
  /** Cost-bearing routes (runs, thread creation, uploads) fail closed without a permit. */
  costly?: boolean;
}

/** A lease outlives the longest possible stream by this much before the alarm frees it. */
export const LEASE_MARGIN_MS = 60_000;
/**
 * Retry-After for a thread-quota 429 (the contract puts one on every 429). The quota frees
 * only when a thread is deleted, so this is a polite pause, not a promise.
 */
const QUOTA_RETRY_AFTER_S = 60;

/**
 * The one round trip to the tenant's state object per request: rate buckets (user
 * and tenant), ownership, thread quota, stream lease and the data the route wants.
 * Runs after authentication (a 401 costs no quota) and before validation, so every
 * authenticated request counts and every response carries `RateLimit` headers. An id
 * that is not well-formed skips the ownership check: the validator answers it 400.
 * Reservations and leases no service claimed are given back when the request ends.
 */
export function admission(spec: AdmissionSpec = {}) {
  return createMiddleware<AppEnv>(async function admission(c, next) {
    const gw = gateway(c);
    const id = spec.owns ? IdSchema.safeParse(c.req.param(spec.owns.param)) : undefined;
    const request: AdmitRequest = { tenant: gw.tenant.id, user: gw.user, limits: gw.tenant.limits };
    if (spec.upstream !== false) {
      const account = await keyOf(gw.config.upstream);
      request.upstream = { account, costly: spec.costly ?? false, seen: lastObservation(account) };
    }
    if (spec.owns && id?.success) request.owns = { kind: spec.owns.kind, id: id.data };
    if (spec.reserveThread) request.reserveThread = true;
    if (spec.lease) request.lease = { ttlMs: gw.config.stream.maxDurationMs + LEASE_MARGIN_MS };
    if (spec.want) request.want = spec.want;

    let result: Admission;
    try {
      result = await gw.state.admit(request);
    } catch (error) {
      const name = errorName(error);
      gw.limiter = spec.failOpen ? 'fail_open' : 'unavailable';
      if (spec.failOpen) {
        log('warn', 'limiter unavailable: failing open', {
          request_id: gw.requestId,
          tenant: gw.tenant.id,
          error: name,
        });
        return next();
      }
      log('error', 'limiter unavailable: failing closed', {
        request_id: gw.requestId,
        tenant: gw.tenant.id,
        error: name,
      });
      throw new ApiError(503, 'LIMITER_UNAVAILABLE', 'The gateway cannot check limits right now.', {
        retryAfter: 5,
      });
    }
    const headers = rateLimitHeaders(ratePolicies(gw.tenant.limits), result.rate);
    gw.limiter = result.ok ? 'admitted' : result.reason;
    if (!result.ok) throw denial(result, headers);
    gw.admitted = result;
    try {
      await next();
    } finally {
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
      const { reservation, lease, permit } = result;
      // A request refused before it reached the upstream (e.g. 400) spends no budget.
      if (permit && gw.upstream.upstreamCalls === 0) gw.defer(gw.state.refundPermit());
      if (reservation && !gw.claimed.has(reservation)) gw.defer(gw.state.releaseThread(gw.user, reservation));
      if (lease && !gw.claimed.has(lease)) gw.defer(gw.state.releaseLease(lease));
    }
  });
}

function denial(result: Extract<Admission, { ok: false }>, headers: Record<string, string>): ApiError {
  const options = { headers, ...(result.retryAfter === undefined ? {} : { retryAfter: result.retryAfter }) };
  switch (result.reason) {
    case 'rate_user':
      return new ApiError(429, 'RATE_LIMITED', 'You are sending requests too fast.', options);
    case 'rate_tenant':
      return new ApiError(429, 'RATE_LIMITED', 'This tenant is sending requests too fast.', options);
    case 'not_found':
      return new ApiError(404, 'NOT_FOUND', 'Not found.', { headers });
    case 'quota_user':
      return new ApiError(429, 'QUOTA_EXCEEDED', 'You have reached your thread quota.', {
        headers,
        retryAfter: QUOTA_RETRY_AFTER_S,
      });
    case 'quota_total':
      return new ApiError(429, 'QUOTA_EXCEEDED', 'This tenant has reached its thread quota.', {
        headers,
        retryAfter: QUOTA_RETRY_AFTER_S,
      });
    case 'streams':
      return new ApiError(429, 'TOO_MANY_STREAMS', 'This tenant has too many runs in progress.', options);
    case 'upstream_budget':
      return new ApiError(
        503,
        'UPSTREAM_RATE_LIMITED',
        'The upstream request budget is spent for now.',
        options,
      );
    case 'limiter':
      return new ApiError(503, 'LIMITER_UNAVAILABLE', 'The gateway cannot check limits right now.', options);
  }
}
