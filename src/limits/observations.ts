import { BoundedMap } from '../bounded-map';
import type { Observation } from './account-budget';

/**
 * What this isolate last saw of each upstream account's `X-RateLimit-*` headers. The
 * admission carries it to the tenant's state object, which hands it to the governor
 * when it next asks for permits: the budget stays in step with the upstream without a
 * Durable Object call per upstream response.
 */
const lastSeen = new BoundedMap<string, Observation>(100);

/** Reads the upstream's rate-limit headers; `undefined` when they are absent or odd. */
export function readRateLimit(headers: Headers): Observation | undefined {
  const limit = Number(headers.get('X-RateLimit-Limit'));
  const remaining = Number(headers.get('X-RateLimit-Remaining'));
  const reset = Number(headers.get('X-RateLimit-Reset'));
  if (![limit, remaining, reset].every((n) => Number.isFinite(n) && n >= 0) || limit === 0) return undefined;
  return { limit, remaining, resetAt: reset * 1000 };
}

/** Records an upstream response's headers for `account`. */
export function observe(account: string, headers: Headers): Observation | undefined {
  const seen = readRateLimit(headers);
  if (seen) {
    lastSeen.set(account, seen);
  }
  return seen;
}

export function lastObservation(account: string): Observation | undefined {
  return lastSeen.get(account);
}
