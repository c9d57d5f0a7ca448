import type { Tenant } from '../tenant';
import type { BucketPolicy } from './bucket';

/** The two buckets every authenticated request draws from. */
export interface RatePolicies {
  user: BucketPolicy;
  tenant: BucketPolicy;
}

/**
 * The tenant's buckets: each user's holds `burst` and refills `requests_per_minute`;
 * the tenant's holds ten seconds' worth of `tenant_requests_per_minute` (at least one
 * user's burst) and refills at that rate.
 */
export function ratePolicies(
  limits: Pick<Tenant['limits'], 'requests_per_minute' | 'burst' | 'tenant_requests_per_minute'>,
): RatePolicies {
  return {
    user: { capacity: limits.burst, perMinute: limits.requests_per_minute },
    tenant: {
      capacity: Math.max(limits.burst, Math.ceil(limits.tenant_requests_per_minute / 6)),
      perMinute: limits.tenant_requests_per_minute,
    },
  };
}

/** One policy's state as sent in the `RateLimit` header. */
export interface RateState {
  remaining: number;
  resetIn: number;
}

/** Both buckets' states after an admission (what the tenant's state answers). */
export interface RateSnapshot {
  user: RateState;
  tenant: RateState;
}

/**
 * IETF httpapi-ratelimit-headers: `RateLimit-Policy` names each bucket with its quota
 * and the seconds it takes to refill; `RateLimit` gives what is left and when it is full.
 */
export function rateLimitHeaders(
  policies: RatePolicies,
  state: RateSnapshot,
  /** Only the tenant's bucket counted (webhook ingress): the user's is not named. */
  tenantOnly = false,
): Record<string, string> {
  const window = (p: BucketPolicy) => Math.ceil((p.capacity * 60) / p.perMinute);
  const tenantPolicy = `"tenant";q=${policies.tenant.capacity};w=${window(policies.tenant)}`;
  const tenantState = `"tenant";r=${state.tenant.remaining};t=${state.tenant.resetIn}`;
  if (tenantOnly) return { 'RateLimit-Policy': tenantPolicy, RateLimit: tenantState };
  return {
    'RateLimit-Policy': `"user";q=${policies.user.capacity};w=${window(policies.user)}, ${tenantPolicy}`,
    RateLimit: `"user";r=${state.user.remaining};t=${state.user.resetIn}, ${tenantState}`,
  };
}
