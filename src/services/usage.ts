import type { BudgetName, RateSnapshot, Usage } from '../objects/tenant-state';
import type { RequestContext } from './context';

/** What `GET /v1/usage` answers: the caller's limits and what is left of each. */
export interface UsageReport {
  tenant: string;
  user: string;
  limits: RequestContext['tenant']['limits'];
  threads: { yours: number; remaining: number; tenant_total: number; tenant_remaining: number };
  /** `remaining` counts uploads in flight as taken: each may become a file. */
  files: { yours: number; remaining: number; max_bytes: number; types: string[] };
  streams: { active: number; max: number; yours: number; max_yours: number };
  /** What is left of each spend budget in its current UTC window; `reset_in` in seconds. */
  budgets: Record<BudgetName, { limit: number; used: number; remaining: number; reset_in: number }>;
  rate: { user: { remaining: number; reset_in: number }; tenant: { remaining: number; reset_in: number } };
}

/** The caller's usage from the counts admission read; no upstream call. */
export function usageReport(
  ctx: Pick<RequestContext, 'tenant' | 'user'>,
  counts: Usage,
  rate: RateSnapshot,
): UsageReport {
  const { limits, files } = ctx.tenant;
  const tenantRemaining = Math.max(0, limits.threads_total - counts.threads_total);
  return {
    tenant: ctx.tenant.id,
    user: ctx.user,
    limits,
    threads: {
      yours: counts.threads,
      remaining: Math.max(0, Math.min(limits.threads_per_user - counts.threads, tenantRemaining)),
      tenant_total: counts.threads_total,
      tenant_remaining: tenantRemaining,
    },
    files: {
      yours: counts.files,
      remaining: Math.max(0, limits.files_per_user - counts.files - counts.files_held),
      max_bytes: files.max_bytes,
      types: files.types,
    },
    streams: {
      active: counts.streams,
      max: limits.concurrent_streams,
      yours: counts.streams_yours,
      max_yours: limits.streams_per_user,
    },
    budgets: budgetsView(counts.budgets),
    rate: {
      user: { remaining: rate.user.remaining, reset_in: rate.user.resetIn },
      tenant: { remaining: rate.tenant.remaining, reset_in: rate.tenant.resetIn },
    },
  };
}

function budgetsView(budgets: Usage['budgets']): UsageReport['budgets'] {
  const view = ({ limit, used, remaining, resetIn }: Usage['budgets'][BudgetName]) => ({
    limit,
    used,
    remaining,
    reset_in: resetIn,
  });
  return {
    threads_per_user_per_day: view(budgets.threads_per_user_per_day),
    threads_per_day: view(budgets.threads_per_day),
    threads_per_month: view(budgets.threads_per_month),
    runs_per_user_per_day: view(budgets.runs_per_user_per_day),
  };
}
