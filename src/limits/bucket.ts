/** A token bucket's state: tokens left at `updatedAt` (epoch ms). */
export interface BucketState {
  tokens: number;
  updatedAt: number;
}

/** A bucket's shape: it holds `capacity` tokens and refills `perMinute` a minute. */
export interface BucketPolicy {
  capacity: number;
  perMinute: number;
}

export interface TakeResult {
  allowed: boolean;
  state: BucketState;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until a token is available (0 when one is). */
  retryAfter: number;
  /** Seconds until the bucket is full again. */
  resetIn: number;
}

/** Tokens a bucket holds at `now` (lazily refilled; fractional). */
export function available(state: BucketState | undefined, policy: BucketPolicy, now: number): number {
  const perMs = policy.perMinute / 60_000;
  const elapsed = state ? Math.max(0, now - state.updatedAt) : 0;
  return state ? Math.min(policy.capacity, state.tokens + elapsed * perMs) : policy.capacity;
}

/**
 * Takes `n` tokens (default one) from a bucket (lazily refilled to `now`), all or none.
 * Pure: the caller stores the returned state. A refused request takes nothing.
 */
export function take(state: BucketState | undefined, policy: BucketPolicy, now: number, n = 1): TakeResult {
  const perMs = policy.perMinute / 60_000;
  const tokens = available(state, policy, now);
  const allowed = tokens >= n;
  const left = allowed ? tokens - n : tokens;
  return {
    allowed,
    state: { tokens: left, updatedAt: now },
    remaining: Math.floor(left),
    retryAfter: left >= 1 ? 0 : Math.ceil((1 - left) / perMs / 1000),
    resetIn: Math.ceil((policy.capacity - left) / perMs / 1000),
  };
}
