import { dayWindow, monthWindow, type SpendMark, secondsLeft, type Window } from '../limits/windows';
import type { Tenant } from '../tenant';

type Limits = Tenant['limits'];

export type { SpendMark } from '../limits/windows';

/** The budgets of the contract (section 1): what was spent, per UTC day or month. */
export type BudgetName =
  | 'threads_per_user_per_day'
  | 'threads_per_day'
  | 'threads_per_month'
  | 'runs_per_user_per_day';

interface Budget {
  name: BudgetName;
  bucket: string;
  window: Window;
  limit: number;
}

/** A budget as `GET /v1/usage` shows it. */
export interface BudgetState {
  limit: number;
  used: number;
  remaining: number;
  /** Seconds until the window ends. */
  resetIn: number;
}

export type SpendCheck = { ok: true } | { ok: false; budget: BudgetName; retryAfter: number };

/** The budgets a thread creation by `user` counts against. */
export function threadBudgets(user: string, limits: Limits, now: number): Budget[] {
  const day = dayWindow(now);
  return [
    {
      name: 'threads_per_user_per_day',
      bucket: `threads:user:${user}`,
      window: day,
      limit: limits.threads_per_user_per_day,
    },
    { name: 'threads_per_day', bucket: 'threads:day', window: day, limit: limits.threads_per_day },
    {
      name: 'threads_per_month',
      bucket: 'threads:month',
      window: monthWindow(now),
      limit: limits.threads_per_month,
    },
  ];
}

/** The budgets a run by `user` counts against. */
export function runBudgets(user: string, limits: Limits, now: number): Budget[] {
  return [
    {
      name: 'runs_per_user_per_day',
      bucket: `runs:user:${user}`,
      window: dayWindow(now),
      limit: limits.runs_per_user_per_day,
    },
  ];
}

export const SPEND_SCHEMA = `
  CREATE TABLE IF NOT EXISTS spend (
    bucket TEXT PRIMARY KEY,
    window TEXT NOT NULL,
    used INTEGER NOT NULL
  );
`;

/**
 * A tenant's spend: how much of each budget its current window has used, in the tenant
 * object's SQLite storage (a count that only resets with its window, whatever is deleted
 * meanwhile). The object is single-threaded, so check-then-take is exact.
 */
export class SpendBook {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** The first of `budgets` that has nothing left, with the seconds to its window's end. */
  check(budgets: readonly Budget[], now: number): SpendCheck {
    let refused: SpendCheck = { ok: true };
    for (const budget of budgets) {
      if (this.used(budget) < budget.limit) continue;
      const retryAfter = secondsLeft(budget.window, now);
      // With several spent, the caller can come back only when the last of them resets.
      if (refused.ok || retryAfter > refused.retryAfter)
        refused = { ok: false, budget: budget.name, retryAfter };
    }
    return refused;
  }

  /** Takes one unit of each budget; the marks give them back (only the upstream refusing does). */
  take(budgets: readonly Budget[]): SpendMark[] {
    for (const { bucket, window } of budgets) {
      this.sql.exec(
        `INSERT INTO spend (bucket, window, used) VALUES (?, ?, 1)
         ON CONFLICT (bucket) DO UPDATE SET
           used = CASE WHEN window = excluded.window THEN used + 1 ELSE 1 END,
           window = excluded.window`,
        bucket,
        window.key,
      );
    }
    return budgets.map(({ bucket, window }) => ({ bucket, window: window.key }));
  }

  /** Gives back what `marks` took, unless its window has ended meanwhile. */
  refund(marks: readonly SpendMark[]): void {
    for (const { bucket, window } of marks) {
      this.sql.exec(
        'UPDATE spend SET used = used - 1 WHERE bucket = ? AND window = ? AND used > 0',
        bucket,
        window,
      );
    }
  }

  /** Each budget's state now, by name. */
  states(budgets: readonly Budget[], now: number): Record<BudgetName, BudgetState> {
    const out: Partial<Record<BudgetName, BudgetState>> = {};
    for (const budget of budgets) {
      const used = this.used(budget);
      out[budget.name] = {
        limit: budget.limit,
        used,
        remaining: Math.max(0, budget.limit - used),
        resetIn: secondsLeft(budget.window, now),
      };
    }
    return fill(out);
  }

  private used({ bucket, window }: Budget): number {
    const row = this.sql
      .exec<{ used: number }>('SELECT used FROM spend WHERE bucket = ? AND window = ?', bucket, window.key)
      .toArray()[0];
    return row?.used ?? 0;
  }
}

const EMPTY: BudgetState = { limit: 0, used: 0, remaining: 0, resetIn: 0 };

function fill(partial: Partial<Record<BudgetName, BudgetState>>): Record<BudgetName, BudgetState> {
  return {
    threads_per_user_per_day: partial.threads_per_user_per_day ?? EMPTY,
    threads_per_day: partial.threads_per_day ?? EMPTY,
    threads_per_month: partial.threads_per_month ?? EMPTY,
    runs_per_user_per_day: partial.runs_per_user_per_day ?? EMPTY,
  };
}
