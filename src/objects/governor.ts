import { DurableObject } from 'cloudflare:workers';
import { allocate, type BudgetWindow, budgetFor } from '../limits/fair-share';

/** What the gateway last saw of the upstream's `X-RateLimit-*` headers. */
export interface Observation {
  limit: number;
  remaining: number;
  /** Epoch ms. */
  resetAt: number;
}

export interface PermitGrant {
  granted: number;
  /** Epoch ms after which unused permits are void (the window reset). */
  expiresAt: number;
  /** Seconds until more budget exists, when nothing was granted. */
  retryAfter: number;
}

/** Until the upstream has told us its tier, assume the smallest (60 a minute). */
const DEFAULT_LIMIT = 60;
const WINDOW_MS = 60_000;

/**
 * One object per upstream account (`idFromName(accountKey)`): the account's request
 * budget, learnt from the upstream's `X-RateLimit-*` headers and its 429s, shared
 * fairly between tenants. Tenants' state objects take permits in small batches, so
 * the hot path does not come here; when the budget is spent, callers get an honest
 * `Retry-After` instead of the gateway hammering the upstream.
 */
export class UpstreamGovernor extends DurableObject<Env> {
  private window: BudgetWindow | undefined;
  private limit = DEFAULT_LIMIT;
  /** Whether the window's end and limit come from the upstream's headers yet. */
  private synced = false;
  /** Tenant → last time it asked (epoch ms): who shares the budget now. */
  private readonly lastAsked = new Map<string, number>();

  /** Grants `tenant` up to `want` upstream requests; `seen` syncs the budget with reality. */
  async acquire(tenant: string, want: number, seen?: Observation): Promise<PermitGrant> {
    const now = Date.now();
    if (seen) this.observe(seen, now);
    const window = this.current(now);
    this.lastAsked.set(tenant, now);
    for (const [t, at] of this.lastAsked) if (now - at > WINDOW_MS) this.lastAsked.delete(t);
    // Until the upstream has said what its limit is, hand out one permit at a time.
    const grant = allocate(window, tenant, this.synced ? want : 1, [...this.lastAsked.keys()], now);
    return { granted: grant.granted, expiresAt: window.resetAt, retryAfter: grant.retryAfter };
  }

  /**
   * What the governor has learnt, for the operator (`GET /admin/v1/account`): the upstream's
   * limit, whether it came from the upstream's headers yet, and the current window's use.
   */
  async budget() {
    const now = Date.now();
    const window = this.window && now < this.window.resetAt ? this.window : undefined;
    return {
      limit: this.limit,
      synced: this.synced && window !== undefined,
      window: window && { reset_at: window.resetAt, budget: window.budget, used: window.used },
      tenants: [...this.lastAsked].filter(([, at]) => now - at <= WINDOW_MS).map(([tenant]) => tenant),
    };
  }

  /** The upstream answered 429: nothing more until it says the window resets. */
  async exhausted(resetAt: number): Promise<void> {
    const window = this.current(Date.now());
    window.resetAt = Math.max(window.resetAt, resetAt);
    window.used = window.budget;
  }

  private current(now: number): BudgetWindow {
    if (!this.window || now >= this.window.resetAt) {
      // Provisional until the upstream's headers say where its window ends.
      this.window = { resetAt: now + WINDOW_MS, budget: budgetFor(this.limit), used: 0, byTenant: {} };
      this.synced = false;
    }
    return this.window;
  }

  /**
   * Adopts the upstream's numbers: its limit, its window end, and — when it has fewer
   * requests left than we think — its remaining count (other clients of the same
   * account, or calls outside the permits such as logins, count too). Permits already
   * granted stay counted: they may still be on their way.
   */
  private observe(seen: Observation, now: number): void {
    if (seen.resetAt <= now) return;
    this.limit = seen.limit;
    let window = this.current(now);
    if (this.synced && seen.resetAt > window.resetAt + 1_000) {
      // The upstream began a new window before ours ended (clocks differ): follow it.
      window = { resetAt: seen.resetAt, budget: budgetFor(seen.limit), used: 0, byTenant: {} };
      this.window = window;
    }
    window.resetAt = seen.resetAt;
    window.budget = budgetFor(seen.limit);
    const margin = seen.limit - window.budget;
    window.used = Math.max(window.used, window.budget - Math.max(0, seen.remaining - margin));
    this.synced = true;
  }
}
