import { log } from '../log';
import type { PermitGrant } from './governor';

/** Permits asked of the governor at a time (it hands out fewer near the limit). */
const PERMIT_BATCH = 4;
const MAX_PERMIT_BATCH = 16;

export type PermitOutcome =
  | { ok: true; taken: boolean }
  | { ok: false; reason: 'upstream_budget' | 'limiter'; retryAfter: number };

/**
 * A tenant object's pool of upstream permits, refilled from the governor in batches
 * so most requests never leave the tenant's object. Concurrent requests share one
 * refill (the object owns the promise, so no request's cancellation can break it)
 * and queue on the pool: a burst does not take a batch each.
 */
export class PermitPool {
  private count = 0;
  private expiresAt = 0;
  private refill: Promise<PermitOutcome> | undefined;
  private waiting = 0;

  /**
   * One permit. A governor that cannot answer fails costly requests closed and lets
   * others pass (`taken: false`, logged).
   */
  async take(costly: boolean, acquire: (want: number) => Promise<PermitGrant>): Promise<PermitOutcome> {
    this.waiting += 1;
    try {
      for (;;) {
        if (this.count > 0 && Date.now() < this.expiresAt) {
          this.count -= 1;
          return { ok: true, taken: true };
        }
        this.refill ??= this.fill(costly, acquire).finally(() => {
          this.refill = undefined;
        });
        const outcome = await this.refill;
        if (!outcome.ok || !outcome.taken) return outcome;
      }
    } finally {
      this.waiting -= 1;
    }
  }

  /** Returns a permit a refused request did not use. */
  giveBack(): void {
    if (Date.now() < this.expiresAt) this.count += 1;
  }

  private async fill(
    costly: boolean,
    acquire: (want: number) => Promise<PermitGrant>,
  ): Promise<PermitOutcome> {
    let grant: PermitGrant;
    try {
      grant = await acquire(Math.min(MAX_PERMIT_BATCH, Math.max(PERMIT_BATCH, this.waiting)));
    } catch (error) {
      const name = error instanceof Error ? error.name : 'unknown';
      log(costly ? 'error' : 'warn', 'governor unavailable', { costly, error: name });
      return costly ? { ok: false, reason: 'limiter', retryAfter: 5 } : { ok: true, taken: false };
    }
    if (grant.granted === 0) return { ok: false, reason: 'upstream_budget', retryAfter: grant.retryAfter };
    const live = Date.now() < this.expiresAt ? this.count : 0;
    this.count = live + grant.granted;
    this.expiresAt = grant.expiresAt;
    return { ok: true, taken: true };
  }
}
