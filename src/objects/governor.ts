import { DurableObject } from 'cloudflare:workers';
import { AccountBudget, type Observation, type PermitGrant } from '../limits/account-budget';

export type { Observation, PermitGrant } from '../limits/account-budget';

/**
 * One object per upstream account (`idFromName(accountKey)`): the account's request
 * budget ({@link AccountBudget}), learnt from the upstream's `X-RateLimit-*` headers and
 * its 429s, shared fairly between tenants. Tenants' state objects take permits in small
 * batches, so the hot path does not come here; when the budget is spent, callers get an
 * honest `Retry-After` instead of the gateway hammering the upstream.
 */
export class UpstreamGovernor extends DurableObject<Env> {
  private readonly budget = new AccountBudget();

  /** Grants `tenant` up to `want` upstream requests; `seen` syncs the budget with reality. */
  async acquire(tenant: string, want: number, seen?: Observation): Promise<PermitGrant> {
    return this.budget.acquire(tenant, want, seen, Date.now());
  }

  /** The upstream answered 429: nothing more until it says the window resets. */
  async exhausted(resetAt: number): Promise<void> {
    this.budget.exhausted(resetAt, Date.now());
  }
}
