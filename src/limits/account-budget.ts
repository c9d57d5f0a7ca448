import { allocate, type BudgetWindow, budgetFor, WINDOW_MS } from './fair-share';
import { MAX_HORIZON_S, type Observation } from './observations';

export type { Observation } from './observations';

export interface PermitGrant {
  granted: number;
  /** Epoch ms after which unused permits are void: a short lease, never past the window's end. */
  expiresAt: number;
  /** Seconds until more budget may exist, when nothing was granted. */
  retryAfter: number;
  /** The window the permits belong to (unused ones are returned to it by this id). */
  window: string;
}

/** Permits a tenant's pool did not use, given back to the window they came from. */
export interface Returned {
  window: string;
  count: number;
}

/** The governor's view of the account, for operators and tests. */
export interface BudgetSnapshot {
  limit: number;
  /** Requests the gateway may send this window (the limit less the margin). */
  budget: number;
  /** Requests granted this window and not returned. */
  used: number;
  /** Epoch ms the window ends. */
  resetAt: number;
  /** Whether the window's end and limit come from the upstream's headers. */
  synced: boolean;
  /** Epoch ms until which a 429 stops all grants (0 when none). */
  blockedUntil: number;
}

/**
 * How long permits are leased (never past the window's end). A pool returns those it did
 * not use when the lease ends, so a tenant that asked once and went idle strands nothing
 * for longer than this.
 */
export const PERMIT_LEASE_MS = 3_000;

/** Until the upstream has told us its tier, assume the smallest (60 a minute). */
const DEFAULT_LIMIT = 60;
/** A 429 with neither `Retry-After` nor a reset blocks this long (seconds). */
const DEFAULT_BLOCK_S = 60;
/** Slack for clocks between the isolate that read a reset and this object. */
const CLOCK_SLACK_MS = WINDOW_MS;

interface AccountWindow extends BudgetWindow {
  id: string;
  /** The upstream's own count for this window, as last observed: returns never go below it. */
  observed: number;
}

/**
 * One upstream account's request budget, learnt from the upstream's `X-RateLimit-*`
 * headers and its 429s, shared fairly between tenants. Pure apart from its own state:
 * every method takes the time, so the `UpstreamGovernor` object wraps it with the clock
 * and tests drive it on virtual time.
 *
 * It never waits for an observation to recover: no request reaches the upstream while it
 * refuses, so it may get none. Windows end on their own (at most an hour ahead, however
 * odd the headers), and a 429 blocks for its `Retry-After` only.
 */
export class AccountBudget {
  private window: AccountWindow | undefined;
  private limit = DEFAULT_LIMIT;
  /** Whether the window's end and limit come from the upstream's headers yet. */
  private synced = false;
  private blockedUntil = 0;
  /** Window ids: unique to this instance, so a return from before a restart matches nothing. */
  private readonly instance = crypto.randomUUID().slice(0, 8);
  private windows = 0;
  /** Tenant → last time it asked (epoch ms): who shares the budget now. */
  private readonly lastAsked = new Map<string, number>();

  /**
   * Grants `tenant` up to `want` upstream requests; `seen` syncs the budget with reality,
   * and `returned` gives back what the tenant's expired lease did not use.
   */
  acquire(
    tenant: string,
    want: number,
    seen: Observation | undefined,
    now: number,
    returned?: Returned,
  ): PermitGrant {
    if (returned) this.release(tenant, returned, now);
    if (seen) this.observe(seen, now);
    const window = this.current(now);
    this.lastAsked.set(tenant, now);
    for (const [t, at] of this.lastAsked) if (now - at > WINDOW_MS) this.lastAsked.delete(t);
    if (now < this.blockedUntil) {
      const retryAfter = Math.ceil((this.blockedUntil - now) / 1000);
      return { granted: 0, expiresAt: now, retryAfter, window: window.id };
    }
    // Until the upstream has said what its limit is, hand out one permit at a time.
    const grant = allocate(window, tenant, this.synced ? want : 1, [...this.lastAsked.keys()], now);
    return {
      granted: grant.granted,
      expiresAt: Math.min(window.resetAt, now + PERMIT_LEASE_MS),
      retryAfter: grant.retryAfter,
      window: window.id,
    };
  }

  /**
   * Takes back permits `tenant` did not use. Only into the window they came from, never
   * more than the tenant holds, and never below what the upstream said it has counted.
   */
  release(tenant: string, returned: Returned, now: number): void {
    const window = this.window;
    if (!window || window.id !== returned.window || now >= window.resetAt) return;
    const mine = window.byTenant[tenant] ?? 0;
    const count = Math.min(mine, Math.max(0, Math.floor(returned.count)));
    if (count === 0) return;
    window.byTenant[tenant] = mine - count;
    window.used = Math.max(window.observed, window.used - count);
  }

  /**
   * The upstream answered 429: nothing more for `seconds` (its `Retry-After`, else its
   * reset), clamped to an hour. A short `Retry-After` blocks for that long, not until the
   * window's end.
   */
  rateLimited(seconds: number, now: number): void {
    const wait = Number.isFinite(seconds) ? Math.min(MAX_HORIZON_S, Math.max(1, seconds)) : DEFAULT_BLOCK_S;
    this.blockedUntil = Math.max(this.blockedUntil, now + wait * 1000);
  }

  snapshot(now: number): BudgetSnapshot {
    const window = this.current(now);
    return {
      limit: this.limit,
      budget: window.budget,
      used: window.used,
      resetAt: window.resetAt,
      synced: this.synced,
      blockedUntil: now < this.blockedUntil ? this.blockedUntil : 0,
    };
  }

  private current(now: number): AccountWindow {
    if (!this.window || now >= this.window.resetAt) {
      // Provisional until the upstream's headers say where its window ends.
      this.window = this.open(now + WINDOW_MS, this.limit);
      this.synced = false;
    }
    return this.window;
  }

  private open(resetAt: number, limit: number): AccountWindow {
    this.windows += 1;
    const id = `${this.instance}:${this.windows}`;
    return { id, resetAt, budget: budgetFor(limit), used: 0, observed: 0, byTenant: {} };
  }

  /**
   * Adopts the upstream's numbers: its limit, its window end, and — when it has fewer
   * requests left than we think — its remaining count (other clients of the same
   * account, or calls outside the permits such as logins, count too). Permits already
   * granted stay counted: they may still be on their way.
   */
  private observe(seen: Observation, now: number): void {
    // A reset in the past is stale. One beyond the horizon did not come from the parser,
    // which clamps what the upstream says: believed, it could pin the window for ever.
    if (seen.resetAt <= now || seen.resetAt > now + MAX_HORIZON_S * 1000 + CLOCK_SLACK_MS) return;
    this.limit = seen.limit;
    let window = this.current(now);
    if (this.synced && seen.resetAt > window.resetAt + 1_000) {
      // The upstream began a new window before ours ended (clocks differ): follow it.
      window = this.open(seen.resetAt, seen.limit);
      this.window = window;
    }
    window.resetAt = seen.resetAt;
    window.budget = budgetFor(seen.limit);
    const margin = seen.limit - window.budget;
    window.observed = Math.max(window.observed, window.budget - Math.max(0, seen.remaining - margin));
    window.used = Math.max(window.used, window.observed);
    this.synced = true;
  }
}
