import { DurableObject } from 'cloudflare:workers';
import {
  AccountBudget,
  type BudgetSnapshot,
  type Observation,
  type PermitGrant,
  type Returned,
} from '../limits/account-budget';

export type { Observation, PermitGrant, Returned } from '../limits/account-budget';

/**
 * One object per upstream account (`idFromName(accountKey)`): the account's request
 * budget ({@link AccountBudget}), learnt from the upstream's `X-RateLimit-*` headers and
 * its 429s, shared fairly between tenants. Tenants' state objects lease permits in small
 * batches for a few seconds, so the hot path does not come here, and give back what they
 * did not use; when the budget is spent, callers get an honest `Retry-After` instead of
 * the gateway hammering the upstream.
 */
export class UpstreamGovernor extends DurableObject<Env> {
  private readonly budget = new AccountBudget();

  /**
   * Grants `tenant` up to `want` upstream requests; `seen` syncs the budget with reality,
   * `returned` gives back an expired lease's unused permits.
   */
  async acquire(tenant: string, want: number, seen?: Observation, returned?: Returned): Promise<PermitGrant> {
    return this.budget.acquire(tenant, want, seen, Date.now(), returned);
  }

  /** Takes back permits `tenant`'s pool did not use before their lease ended. */
  async release(tenant: string, returned: Returned): Promise<void> {
    this.budget.release(tenant, returned, Date.now());
  }

  /** The upstream answered 429: no grants for `seconds` (its `Retry-After`, clamped to an hour). */
  async rateLimited(seconds: number): Promise<void> {
    this.budget.rateLimited(seconds, Date.now());
  }

  /** The account's budget as the governor sees it now. */
  async snapshot(): Promise<BudgetSnapshot> {
    return this.budget.snapshot(Date.now());
  }
}
