import { BoundedMap } from '../bounded-map';
import { available, type BucketState, type TakeResult, take } from '../limits/bucket';
import type { RatePolicies } from '../limits/policy';
import type { DenyReason, RateSnapshot } from './tenant-schema';

/** Users tracked at once; beyond it the least recent start afresh (full), a bounded approximation. */
const MAX_BUCKETS = 100_000;

/** Both buckets a request draws from, looked at for `n` tokens; nothing is taken yet. */
export interface RateLook {
  readonly n: number;
  readonly rate: RateSnapshot;
  /** Why the request may not go on, if it may not: the user's bucket is named first. */
  readonly refused?: { reason: 'rate_user' | 'rate_tenant'; retryAfter: number };
  readonly tenant: TakeResult;
  readonly user: TakeResult;
  /** `undefined` for a tenant-only request: it draws from the tenant's bucket alone. */
  readonly userKey: string | undefined;
}

/** The caller's token, or why there is none (then nothing was taken). */
export type FirstToken =
  | { readonly ok: true; readonly look: RateLook }
  | {
      readonly ok: false;
      readonly reason: Extract<DenyReason, 'blocked' | 'rate_user' | 'rate_tenant'>;
      readonly retryAfter?: number;
      readonly rate: RateSnapshot;
    };

/**
 * A tenant's token buckets, one for the tenant and one per user. They live in memory:
 * the hot path then writes nothing, so no response waits on storage. An object is only
 * evicted after it has been idle for a while, by when buckets have mostly refilled;
 * starting them full again is the one approximation, documented in the README.
 */
export class RateBook {
  readonly #buckets = new BoundedMap<string, BucketState>(MAX_BUCKETS);

  /**
   * Looks at the buckets for `want` tokens (a read lease asks for several; it takes what
   * both hold, at least one). `user` is `undefined` for a tenant-only request.
   */
  look(policies: RatePolicies, user: string | undefined, now: number, want = 1): RateLook {
    const userKey = user === undefined ? undefined : `user:${user}`;
    const n = want > 1 ? this.#readable(want, policies, userKey, now) : 1;
    const tenant = take(this.#buckets.get('tenant'), policies.tenant, now, n);
    const userBucket =
      userKey === undefined ? tenant : take(this.#buckets.get(userKey), policies.user, now, n);
    const rate: RateSnapshot = {
      user: { remaining: userBucket.remaining, resetIn: userBucket.resetIn },
      tenant: { remaining: tenant.remaining, resetIn: tenant.resetIn },
    };
    const look: RateLook = { n, rate, tenant, user: userBucket, userKey };
    // Both buckets must have the tokens; a refused request takes from neither.
    if (userBucket.allowed && tenant.allowed) return look;
    const reason = userBucket.allowed ? 'rate_tenant' : 'rate_user';
    return { ...look, refused: { reason, retryAfter: Math.max(userBucket.retryAfter, tenant.retryAfter) } };
  }

  /**
   * The one token every admission takes first, from both buckets. A blocked user takes
   * nothing, not even a token of the tenant's rate; a refusal takes from neither bucket.
   */
  first(
    policies: RatePolicies,
    user: string | undefined,
    now: number,
    blocked: boolean,
    paid = false,
  ): FirstToken {
    const look = this.look(policies, user, now);
    if (blocked) return { ok: false, reason: 'blocked', rate: look.rate };
    // Paid for already (`AdmitRequest.ratePaid`): nothing more is taken, nor refused for.
    if (paid) return { ok: true, look };
    if (look.refused) return { ok: false, ...look.refused, rate: look.rate };
    this.take(look);
    return { ok: true, look };
  }

  /**
   * A read lease's tokens after the caller's: up to `extra` more, as many as both buckets
   * hold, or none (and no `rate`) when either is empty.
   */
  more(
    policies: RatePolicies,
    user: string,
    now: number,
    extra: number,
  ): { taken: number; rate?: RateSnapshot } {
    if (extra <= 0) return { taken: 0 };
    const look = this.look(policies, user, now, extra);
    if (look.refused) return { taken: 0 };
    this.take(look);
    return { taken: look.n, rate: look.rate };
  }

  /** Takes the tokens `look` found (it must not have been refused). */
  take(look: RateLook): void {
    this.#buckets.set('tenant', look.tenant.state);
    if (look.userKey !== undefined) this.#buckets.set(look.userKey, look.user.state);
  }

  /** Puts back `tokens` of what `look` took (a read lease could not use them all). */
  giveBack(look: Pick<RateLook, 'userKey'>, tokens: number): void {
    if (tokens <= 0) return;
    for (const key of look.userKey === undefined ? ['tenant'] : ['tenant', look.userKey]) {
      const state = this.#buckets.get(key);
      if (state) this.#buckets.set(key, { tokens: state.tokens + tokens, updatedAt: state.updatedAt });
    }
  }

  /**
   * Puts back `tokens` a read lease took for `user` and never used (they are the user's
   * and the tenant's again; a bucket never holds more than its capacity, see `available`).
   */
  refund(user: string, tokens: number): void {
    this.giveBack({ userKey: `user:${user}` }, Math.floor(tokens));
  }

  #readable(want: number, policies: RatePolicies, userKey: string | undefined, now: number): number {
    const tenant = available(this.#buckets.get('tenant'), policies.tenant, now);
    const user = userKey === undefined ? tenant : available(this.#buckets.get(userKey), policies.user, now);
    return Math.max(1, Math.min(want, Math.floor(tenant), Math.floor(user)));
  }
}
