import { BoundedMap } from '../bounded-map';

/** What the gateway last saw of the upstream's `X-RateLimit-*` headers. */
export interface Observation {
  limit: number;
  remaining: number;
  /** Epoch ms. */
  resetAt: number;
}

/**
 * What this isolate last saw of each upstream account's `X-RateLimit-*` headers. The
 * admission carries it to the tenant's state object, which hands it to the governor
 * when it next asks for permits: the budget stays in step with the upstream without a
 * Durable Object call per upstream response.
 */
const lastSeen = new BoundedMap<string, Observation>(100);

/**
 * The furthest ahead (seconds) the gateway believes an upstream's reset or `Retry-After`:
 * the upstream's windows are a minute, so anything later is a bug, and it must not park
 * every tenant for days.
 */
export const MAX_HORIZON_S = 3600;

/** Above this an `X-RateLimit-Reset` is epoch milliseconds (as seconds it would be after year 5000). */
const EPOCH_MS_FROM = 1e11;
/** Below this it is a delta in seconds (as epoch seconds it would be before 2001). */
const EPOCH_S_FROM = 1e9;

/**
 * Epoch ms of an `X-RateLimit-Reset` value: epoch seconds per the reference, but a value
 * in epoch milliseconds or a small delta in seconds is read as such. Clamped to
 * {@link MAX_HORIZON_S} ahead of `now`; the clamp is absolute, so an observation re-sent
 * later does not push the window further out.
 */
export function resetAtFrom(value: number, now: number): number {
  const at = value >= EPOCH_MS_FROM ? value : value >= EPOCH_S_FROM ? value * 1000 : now + value * 1000;
  return Math.min(at, now + MAX_HORIZON_S * 1000);
}

/** Reads the upstream's rate-limit headers; `undefined` when they are absent or odd. */
export function readRateLimit(headers: Headers, now: number = Date.now()): Observation | undefined {
  const limit = Number(headers.get('X-RateLimit-Limit'));
  const remaining = Number(headers.get('X-RateLimit-Remaining'));
  const reset = Number(headers.get('X-RateLimit-Reset'));
  if (![limit, remaining, reset].every((n) => Number.isFinite(n) && n >= 0) || limit === 0) return undefined;
  return { limit, remaining, resetAt: resetAtFrom(reset, now) };
}

/** Records an upstream response's headers for `account`. */
export function observe(account: string, headers: Headers): Observation | undefined {
  const seen = readRateLimit(headers);
  if (seen) {
    lastSeen.set(account, seen);
  }
  return seen;
}

/** The last observation of `account` this isolate made, if any. */
export function lastObservation(account: string): Observation | undefined {
  return lastSeen.get(account);
}
