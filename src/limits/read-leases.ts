import { BoundedMap } from '../bounded-map';
import type { RateSnapshot } from './policy';

/**
 * How long an isolate may spend a read lease's tokens. A block by the operator lands at
 * the next refill (refused: the lease is dropped), so a blocked user reads on for at most
 * this long; the contract gives a block 5 s.
 */
export const READ_LEASE_MS = 2_000;
/** Most reads one lease carries: a lease sized for about half its life at the rate seen. */
export const MAX_READ_BATCH = 64;
/** Users with a live lease an isolate tracks at once; beyond it the least recent ask afresh. */
const MAX_LEASES = 10_000;
/** A lease whose background refill was refused asks again no sooner than this. */
const QUIET_MS = 1_000;
/**
 * A read the tenant's state refused (rate, block) is refused again here, without asking,
 * for at most this long: a client hammering past its limit would otherwise cost one
 * object call per refused read (the scale simulation measured it). See {@link refusalQuietMs}.
 */
export const MAX_REFUSAL_QUIET_MS = 250;

/** What a read lease expired holding: its unused rate tokens and upstream permits (of `window`). */
export interface LeaseLeftover {
  tokens: number;
  permits: number;
  window?: string;
}

/** What the tenant's state granted a lease (objects/tenant-state.ts `admit` with `reads`). */
export interface LeaseAnswer {
  granted: number;
  /** How many of the granted reads carry an upstream permit (0: the governor did not answer). */
  permits: number;
  /** The governor's window of those permits. */
  window?: string | undefined;
  rate: RateSnapshot;
}

/**
 * What a read does first ({@link ReadLeases.begin}): spend one of the lease's tokens (and
 * start the refill it says is due), be refused again with the refusal it just had, or ask
 * the tenant's state for `want` reads, giving back what the expired lease held.
 */
export type ReadStep<Refused> =
  | { next: 'local'; read: LocalRead }
  | { next: 'refused'; refusal: Refused }
  | { next: 'ask'; want: number; returned: LeaseLeftover | undefined };

/** What a refusal from the tenant's state does to the lease of the user it refused. */
export interface RefusalEffect {
  /** The user is blocked: their lease is dropped (what it holds is not spent). */
  drop: boolean;
  /** A refusal of the foreground ask is remembered this long (0: the next read asks again). */
  quietMs: number;
  /**
   * The bucket was empty and the owner is confirmed: a concurrent read's lease may have
   * landed meanwhile holding the last tokens, so one of those is spent rather than left.
   */
  spendLanded: boolean;
}

/** One read admitted from a lease. */
export interface LocalRead {
  /** It carries an upstream permit (refunded by admission's settle if no call was made). */
  permit: boolean;
  /** The caller's rate as the `RateLimit` header shows it: the object's, plus what the lease holds. */
  rate: RateSnapshot;
  /** A background refill is due: the number of reads it should ask for. */
  refill?: number;
}

interface Lease {
  tokens: number;
  permits: number;
  /** The governor's window of `permits`: a permit is good in its own window only. */
  window: string | undefined;
  expiresAt: number;
  rate: RateSnapshot;
  /** What the last refill granted: a refill is due when half of it is spent. */
  granted: number;
  /** When the last refill was asked for, and how many reads were admitted since: the rate. */
  since: number;
  used: number;
  refilling: Promise<unknown> | undefined;
  quietUntil: number;
}

/**
 * An isolate's read leases, one per (tenant, user): reads admitted without a round trip
 * to the tenant's state. Each lease is a batch of the user's rate tokens (and as many
 * upstream permits) taken from the tenant's object in one exact call, so the rate limit
 * is never exceeded: an isolate only spends what the object gave it. A lease asks for
 * about half its life's worth of reads at the rate this isolate sees (one, for a user
 * seen for the first time), is refilled in the background when half spent, and what it
 * still holds when it expires goes back with the user's next ask from this isolate
 * ({@link ReadLeases.leftover}; lost if they never ask again here: the safe side). Pure
 * bookkeeping: the round trips are made by services/local-reads.ts.
 */
export class ReadLeases<Refused = unknown> {
  readonly #leases = new BoundedMap<string, Lease>(MAX_LEASES);
  readonly #refusals = new BoundedMap<string, { until: number; refusal: Refused }>(MAX_LEASES);
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * The first step of a read of `key`: from the lease when the owner is confirmed here
   * (`owned`) and it holds a token; else refused from memory while a refusal is fresh;
   * else an ask. The round trips are the caller's (services/local-reads.ts; the scale
   * simulation drives the same steps in virtual time).
   */
  begin(key: string, cap: number, owned: boolean): ReadStep<Refused> {
    const read = owned ? this.take(key, cap) : undefined;
    if (read) return { next: 'local', read };
    const refusal = this.refused(key);
    if (refusal !== undefined) return { next: 'refused', refusal };
    return { next: 'ask', want: this.want(key, cap), returned: this.leftover(key) };
  }

  /**
   * The ask a read made was refused with `refusal`: the lease takes its `effect`, and the
   * read is admitted from a lease that landed meanwhile when `effect` allows (else `undefined`).
   */
  askRefused(key: string, cap: number, refusal: Refused, effect: RefusalEffect): LocalRead | undefined {
    if (effect.drop) this.drop(key);
    if (effect.quietMs > 0) this.refuse(key, refusal, effect.quietMs);
    return effect.spendLanded ? this.take(key, cap) : undefined;
  }

  /** A background refill was refused (or failed): a block drops the lease, anything else quiets it. */
  refillRefused(key: string, effect: Pick<RefusalEffect, 'drop'>, retryAfterS?: number): void {
    if (effect.drop) this.drop(key);
    else this.quiet(key, retryAfterS);
  }

  /** One read from the live lease of `key`, or `undefined` when it has none left. */
  take(key: string, cap: number): LocalRead | undefined {
    const lease = this.#leases.get(key);
    const now = this.#now();
    if (!lease || lease.tokens < 1 || now >= lease.expiresAt) return undefined;
    lease.tokens -= 1;
    lease.used += 1;
    const permit = lease.permits > 0;
    if (permit) lease.permits -= 1;
    const due =
      lease.refilling === undefined &&
      now >= lease.quietUntil &&
      lease.tokens <= Math.floor(lease.granted / 2);
    return { permit, rate: shown(lease), ...(due ? { refill: this.want(key, cap) } : {}) };
  }

  /** How many reads a refill of `key` asks for now (at most `cap`). */
  want(key: string, cap: number): number {
    const lease = this.#leases.get(key);
    if (!lease) return 1;
    const elapsed = Math.max(50, this.#now() - lease.since);
    const perLife = Math.ceil(((lease.used + 1) * (READ_LEASE_MS / 2)) / elapsed);
    return Math.max(1, Math.min(cap, MAX_READ_BATCH, perLife));
  }

  /**
   * Records what a refill was granted (a fresh life for what the lease still holds). With
   * `caller`, one of the reads is the caller's and is returned; a background refill keeps all.
   */
  grant(key: string, answer: LeaseAnswer, caller: true): LocalRead;
  grant(key: string, answer: LeaseAnswer, caller: false): undefined;
  grant(key: string, answer: LeaseAnswer, caller: boolean): LocalRead | undefined {
    const now = this.#now();
    const old = this.#leases.get(key);
    const live = old !== undefined && now < old.expiresAt;
    // Permits of a window that has ended are not carried into the new one.
    const sameWindow = live && old.window === answer.window;
    const lease: Lease = {
      tokens: (live ? old.tokens : 0) + answer.granted,
      permits: (sameWindow ? old.permits : 0) + answer.permits,
      window: answer.window,
      expiresAt: now + READ_LEASE_MS,
      rate: answer.rate,
      granted: answer.granted,
      since: now,
      used: 0,
      refilling: old?.refilling,
      quietUntil: 0,
    };
    this.#leases.set(key, lease);
    if (!caller) return undefined;
    lease.tokens -= 1;
    lease.used += 1;
    const permit = lease.permits > 0;
    if (permit) lease.permits -= 1;
    return { permit, rate: shown(lease) };
  }

  /** Marks `refill` as the lease's refill in flight until it settles (no second one is asked for meanwhile). */
  track(key: string, refill: Promise<unknown>): void {
    const lease = this.#leases.get(key);
    if (!lease) return;
    lease.refilling = refill;
    const clear = () => {
      const current = this.#leases.get(key);
      if (current?.refilling === refill) current.refilling = undefined;
    };
    refill.then(clear, clear);
  }

  /** A background refill was refused for the rate (or failed): the lease spends what it holds, then asks in the foreground. */
  quiet(key: string, retryAfterS = 0): void {
    const lease = this.#leases.get(key);
    if (lease) lease.quietUntil = this.#now() + Math.max(QUIET_MS, retryAfterS * 1000);
  }

  /**
   * What the expired lease of `key` still holds, once: its next ask gives it back to the
   * tenant's state (tokens to the buckets, permits to the pool or the governor). A live
   * lease gives nothing (a refill carries it on); neither does a dropped one.
   */
  leftover(key: string): LeaseLeftover | undefined {
    const lease = this.#leases.get(key);
    if (!lease || this.#now() < lease.expiresAt) return undefined;
    const { tokens, permits, window } = lease;
    if (tokens < 1 && permits < 1) return undefined;
    lease.tokens = 0;
    lease.permits = 0;
    return {
      tokens,
      permits: window === undefined ? 0 : permits,
      ...(window === undefined ? {} : { window }),
    };
  }

  /** Forgets the lease (the user was blocked): the next read asks the tenant's state. */
  drop(key: string): void {
    this.#leases.delete(key);
  }

  /** The tenant's state refused a read of `key`: reads here are refused with it for `ms`. */
  refuse(key: string, refusal: Refused, ms: number): void {
    this.#refusals.set(key, { until: this.#now() + ms, refusal });
  }

  /** Forgets the refusal remembered for `key` (the operator let the user back in). */
  forgive(key: string): void {
    this.#refusals.delete(key);
  }

  /** The refusal a read of `key` gets without asking, while the last one is fresh. */
  refused(key: string): Refused | undefined {
    const last = this.#refusals.get(key);
    if (last === undefined) return undefined;
    if (this.#now() < last.until) return last.refusal;
    this.#refusals.delete(key);
    return undefined;
  }
}

/**
 * How long a refused read is refused again locally: about one token's refill time of the
 * user's bucket, at most {@link MAX_REFUSAL_QUIET_MS}. The tokens that come meanwhile stay
 * in the object's bucket (they are spent after), so the user's rate is delayed by at most
 * one token, never lowered; a block or an unblock lands within the same bound.
 */
export const refusalQuietMs = (requestsPerMinute: number) =>
  Math.min(MAX_REFUSAL_QUIET_MS, Math.ceil(60_000 / requestsPerMinute));

/** The rate a read shows: what the object had left, and what this isolate's lease still holds. */
function shown(lease: Lease): RateSnapshot {
  return {
    user: { remaining: lease.rate.user.remaining + lease.tokens, resetIn: lease.rate.user.resetIn },
    tenant: { remaining: lease.rate.tenant.remaining + lease.tokens, resetIn: lease.rate.tenant.resetIn },
  };
}

/** How many reads one lease may carry for a tenant's limits: a quarter of a user's burst, at least one. */
export const leaseCap = (burst: number) => Math.max(1, Math.floor(burst / 4));
