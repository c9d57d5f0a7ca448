import type { PermitGrant, Returned } from '../limits/account-budget';
import { errorName, log } from '../log';

/** The pool's sense of time: the system clock in the object, a virtual one in simulations. */
export interface Clock {
  now(): number;
  /** Runs `run` after `ms`; the function returned cancels it. */
  later(ms: number, run: () => void): () => void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  later: (ms, run) => {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
};

/** Asks the governor for `want` permits, giving back an expired lease's unused ones. */
export type Acquire = (want: number, returned?: Returned) => Promise<PermitGrant>;
/** Gives unused permits back to the governor. */
export type Release = (returned: Returned) => Promise<void>;

/** Permits asked of the governor at a time (it hands out fewer near the limit). */
const PERMIT_BATCH = 4;
/** At most this many at once: a read lease's size (limits/read-leases.ts `MAX_READ_BATCH`). */
const MAX_PERMIT_BATCH = 64;

export type PermitOutcome =
  | { ok: true; taken: boolean }
  | { ok: false; reason: 'upstream_budget' | 'limiter'; retryAfter: number };

/** {@link PermitPool.takeUpTo}'s answer: how many permits, or the refusal. */
export type PermitsOutcome =
  | { ok: true; count: number; window?: string }
  | { ok: false; reason: 'upstream_budget' | 'limiter'; retryAfter: number };

/** What one refill brought: permits, a refusal, or no answer from the governor. */
type Refill = { kind: 'granted' } | { kind: 'refused'; retryAfter: number } | { kind: 'failed' };

/**
 * A tenant object's pool of upstream permits, leased from the governor in batches for a
 * few seconds so most requests never leave the tenant's object. Concurrent requests
 * share one refill (the object owns the promise, so no request's cancellation can break
 * it) and queue on the pool: a burst does not take a batch each. Permits a lease did not
 * use go back to the governor when it ends: with the next refill, or, when the tenant
 * has gone idle and asks for nothing more, from a timer.
 */
export class PermitPool {
  private count = 0;
  private expiresAt = 0;
  /** The governor's window the leased permits belong to. */
  private window: string | undefined;
  private refill: Promise<Refill> | undefined;
  private waiting = 0;
  /** The largest read lease asked for since the last refill: the next refill asks for that many. */
  private wanted = 0;
  private release: Release | undefined;
  private cancelReturn: (() => void) | undefined;
  private readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /**
   * One permit. A governor that cannot answer fails costly requests closed and lets
   * others pass (`taken: false`, logged). `release` is how unused permits go back.
   */
  async take(costly: boolean, acquire: Acquire, release?: Release): Promise<PermitOutcome> {
    if (release) this.release = release;
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

  /**
   * Up to `n` permits for a read lease (services/reads.ts): one as {@link take} gives it,
   * and as many more as the pool holds then, so a lease never waits on a second refill.
   * `count` 0: the governor did not answer and the reads go ahead, as `take` lets them.
   */
  async takeUpTo(n: number, acquire: Acquire, release?: Release): Promise<PermitsOutcome> {
    this.wanted = Math.max(this.wanted, n);
    const first = await this.take(false, acquire, release);
    if (!first.ok) return first;
    if (!first.taken) return { ok: true, count: 0 };
    const more = this.clock.now() < this.expiresAt ? Math.min(n - 1, this.count) : 0;
    this.count -= more;
    return { ok: true, count: 1 + more, ...(this.window === undefined ? {} : { window: this.window }) };
  }

  /**
   * Takes back permits a read lease carried and did not use: into the pool while its
   * lease of that window lasts, else straight back to the governor (which keeps them
   * only in the window they came from).
   */
  giveBackLent(returned: Returned): void {
    const count = Math.floor(returned.count);
    if (count <= 0) return;
    if (returned.window === this.window && this.clock.now() < this.expiresAt) {
      this.count += count;
      return;
    }
    this.release?.({ window: returned.window, count }).catch((error: unknown) => {
      log('warn', 'permit return failed', { error: errorName(error) });
    });
  }

  /** Returns a permit a refused request did not use. */
  giveBack(): void {
    if (this.clock.now() < this.expiresAt) this.count += 1;
  }

  private async fill(acquire: Acquire): Promise<Refill> {
    // Expired, unused permits ride along with the request for new ones: no extra round trip.
    const returned = this.voidExpired();
    let grant: PermitGrant;
    try {
      const want = Math.max(PERMIT_BATCH, this.waiting, this.wanted);
      this.wanted = 0;
      grant = await acquire(Math.min(MAX_PERMIT_BATCH, want), returned);
    } catch {
      // Lost with the call, the returned permits stay counted as used: the safe side.
      return { kind: 'failed' };
    }
    if (grant.granted === 0) return { kind: 'refused', retryAfter: grant.retryAfter };
    const now = this.clock.now();
    // Permits given back during the call join the new lease only if from the same window.
    const live = now < this.expiresAt && this.window === grant.window ? this.count : 0;
    this.count = live + grant.granted;
    this.expiresAt = grant.expiresAt;
    this.window = grant.window;
    this.scheduleReturn(now);
    return { kind: 'granted' };
  }

  /** Takes the expired permits out of the pool (at once, so no two paths return them both). */
  private voidExpired(): Returned | undefined {
    if (this.count <= 0 || this.window === undefined || this.clock.now() < this.expiresAt) return undefined;
    const returned = { window: this.window, count: this.count };
    this.count = 0;
    return returned;
  }

  /** An idle tenant asks for nothing, so no refill would carry its unused permits back. */
  private scheduleReturn(now: number): void {
    this.cancelReturn?.();
    this.cancelReturn = this.clock.later(Math.max(0, this.expiresAt - now), () => this.returnExpired());
  }

  private returnExpired(): void {
    this.cancelReturn = undefined;
    const now = this.clock.now();
    if (this.count > 0 && now < this.expiresAt) {
      this.scheduleReturn(now); // woke early
      return;
    }
    const returned = this.voidExpired();
    const release = this.release;
    if (!returned || !release) return;
    release(returned).catch((error: unknown) => {
      // The permits stay counted as used until the window ends: safe, if wasteful.
      log('warn', 'permit return failed', { error: errorName(error) });
    });
  }
}
