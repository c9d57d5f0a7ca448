import type { RatePolicies } from '../limits/policy';
import type { Acquire, PermitPool, Release } from './permit-pool';
import type { RateBook } from './rate-book';
import type { Admission, AdmitRequest, RateSnapshot } from './tenant-schema';

/** How the tenant's object refills its permit pool from the governor of an upstream account. */
export interface GovernorCalls {
  acquire: Acquire;
  release: Release;
}

/** The governor's calls for the pool's refills, for `tenant`'s upstream account. */
export function governorCalls(
  env: Env,
  tenant: string,
  upstream: NonNullable<AdmitRequest['upstream']>,
): GovernorCalls {
  const stub = () => env.GOVERNOR.getByName(upstream.account);
  return {
    acquire: (want, returned) => stub().acquire(tenant, want, upstream.seen, returned),
    release: (returned) => stub().release(tenant, returned),
  };
}

/**
 * The rest of a read lease, after the caller's token: up to `want` permits (none if the
 * governor does not answer; none asked without `governor`), then as many more tokens as
 * permits and both buckets hold; taken after the permits' wait, so a refill never holds
 * tokens the racing reads need.
 */
export async function leaseReads(
  pool: PermitPool,
  rates: RateBook,
  request: AdmitRequest & { reads: { want: number } },
  policies: RatePolicies,
  firstRate: RateSnapshot,
  governor: GovernorCalls | undefined,
): Promise<Admission> {
  const { want } = request.reads;
  let permits = 0;
  let window: string | undefined;
  if (governor && want > 0) {
    const got = await pool.takeUpTo(want, governor.acquire, governor.release);
    if (!got.ok) return { ok: false, reason: got.reason, retryAfter: got.retryAfter, rate: firstRate };
    permits = got.count;
    window = got.window;
  }
  const more = rates.more(policies, request.user, Date.now(), (permits > 0 ? permits : want) - 1);
  const granted = 1 + more.taken;
  // Permits beyond the tokens go back at once.
  if (window !== undefined && permits > granted) pool.giveBackLent({ window, count: permits - granted });
  const reads = {
    granted,
    permits: Math.min(permits, granted),
    ...(window === undefined ? {} : { window }),
  };
  return { ok: true, rate: more.rate ?? firstRate, reads };
}
