/**
 * The upstream account's request budget for one window, shared by tenants with
 * max-min fairness: a tenant may use budget no one else is asking for, but never the
 * part other active tenants are still owed of their equal share (for the rest of the
 * window: a share not claimed as the window runs lapses).
 */
export interface BudgetWindow {
  /** Epoch ms at which the upstream's window (and this budget) resets. */
  resetAt: number;
  /** Requests the gateway may send in this window (the upstream's limit less a margin). */
  budget: number;
  /** Requests granted so far in this window, all tenants. */
  used: number;
  /** Requests granted so far in this window, per tenant. */
  byTenant: Record<string, number>;
}

export interface Grant {
  granted: number;
  /** Seconds until more budget exists (0 when something was granted). */
  retryAfter: number;
}

/** The upstream's windows are a minute long (its tiers are requests a minute). */
export const WINDOW_MS = 60_000;

/**
 * What a tenant refused only because others are still owed is told to wait (seconds):
 * owed shares shrink as the window runs and idle tenants' permits come back, so more may
 * be free well before the window's end.
 */
const OWED_RETRY_S = 5;

/** Part of the upstream's limit kept back for logins, token fetches and retries. */
export function budgetFor(limit: number): number {
  return Math.max(1, limit - Math.max(2, Math.ceil(limit * 0.05)));
}

/**
 * Grants `tenant` up to `want` requests from `window` (mutated), given the tenants
 * currently active (asking within the last window). Pure apart from the mutation.
 */
export function allocate(
  window: BudgetWindow,
  tenant: string,
  want: number,
  active: readonly string[],
  now: number,
): Grant {
  const left = window.budget - window.used;
  const retryAfter = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
  if (left <= 0) return { granted: 0, retryAfter };
  const others = active.filter((t) => t !== tenant);
  const share = Math.floor(window.budget / (others.length + 1));
  // An equal share is a rate: what a tenant left unclaimed as the window ran is no longer
  // held for it. Held in full, the shares of tenants that asked once and went quiet would
  // go unused at the window's end.
  const rest = Math.min(1, Math.max(0, (window.resetAt - now) / WINDOW_MS));
  const held = Math.floor(share * rest);
  // What the other active tenants are still owed of their equal share.
  const owed = others.reduce(
    (sum, t) => sum + Math.max(0, Math.min(held, share - (window.byTenant[t] ?? 0))),
    0,
  );
  const mine = window.byTenant[tenant] ?? 0;
  const allowed = Math.max(0, left - owed, Math.min(left, share - mine));
  // Near the limit, hand out one at a time so no permit sits idle in a batch.
  const batch = left <= (others.length + 1) * want ? 1 : want;
  const granted = Math.min(batch, allowed);
  if (granted <= 0) return { granted: 0, retryAfter: Math.min(retryAfter, OWED_RETRY_S) };
  window.used += granted;
  window.byTenant[tenant] = mine + granted;
  return { granted, retryAfter: 0 };
}
