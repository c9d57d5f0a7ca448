import type { PermitGrant } from '../limits/account-budget';
import { log } from '../log';

/** The pool's sense of time: the system clock in the object, a virtual one in simulations. */
export interface Clock {
  now(): number;
}

const systemClock: Clock = { now: () => Date.now() };

/** Permits asked of the governor at a time (it hands out fewer near the limit). */
const PERMIT_BATCH = 4;
const MAX_PERMIT_BATCH = 16;

export type PermitOutcome =
  | { ok: true; taken: boolean }
  | { ok: false; reason: 'upstream_budget' | 'limiter'; retryAfter: number };

/** What one refill brought: permits, a refusal, or no answer from the governor. */
type Refill = { kind: 'granted' } | { kind: 'refused'; retryAfter: number } | { kind: 'failed' };

/**
 * A tenant object's pool of upstream permits, refilled from the governor in batches
 * so most requests never leave the tenant's object. Concurrent requests share one
 * refill (the object owns the promise, so no request's cancellation can break it)
 * and queue on the pool: a burst does not take a batch each.
 */
export class PermitPool {
  private count = 0;
  private expiresAt = 0;
  private refill: Promise<Refill> | undefined;
  private waiting = 0;

  private readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /**
   * One permit. A governor that cannot answer fails costly requests closed and lets
   * others pass (`taken: false`, logged).
   */
  async take(costly: boolean, acquire: (want: number) => Promise<PermitGrant>): Promise<PermitOutcome> {
    this.waiting += 1;
    try {
      for (;;) {
        if (this.count > 0 && this.clock.now() < this.expiresAt) {
          this.count -= 1;
          return { ok: true, taken: true };
        }
        this.refill ??= this.fill(acquire).finally(() => {
          this.refill = undefined;
        });
        const refill = await this.refill;
        if (refill.kind === 'refused')
          return { ok: false, reason: 'upstream_budget', retryAfter: refill.retryAfter };
        // No answer: each waiter's own cost decides, not the first caller's.
        if (refill.kind === 'failed') {
          log(costly ? 'error' : 'warn', 'governor unavailable', { costly });
          return costly ? { ok: false, reason: 'limiter', retryAfter: 5 } : { ok: true, taken: false };
        }
      }
    } finally {
      this.waiting -= 1;
    }
  }

  /** Returns a permit a refused request did not use. */
  giveBack(): void {
    if (this.clock.now() < this.expiresAt) this.count += 1;
  }

  private async fill(acquire: (want: number) => Promise<PermitGrant>): Promise<Refill> {
    let grant: PermitGrant;
    try {
      grant = await acquire(Math.min(MAX_PERMIT_BATCH, Math.max(PERMIT_BATCH, this.waiting)));
    } catch {
      return { kind: 'failed' };
    }
    if (grant.granted === 0) return { kind: 'refused', retryAfter: grant.retryAfter };
    const live = this.clock.now() < this.expiresAt ? this.count : 0;
    this.count = live + grant.granted;
    this.expiresAt = grant.expiresAt;
    return { kind: 'granted' };
  }
}
