import { DENY_REASONS } from '../objects/tenant-schema';
/**
 * What is metered (contract section 6), per tenant, per end user, per UTC day. Counts are
 * whole numbers; run time is kept in milliseconds and exported as `run_seconds`.
 */
export const COUNTERS = [
  'requests',
  'threads_created',
  'runs_started',
  'runs_completed',
  'runs_cancelled',
  'run_ms',
  'events',
  'upstream_calls',
  'upload_bytes',
] as const;
export type Counter = (typeof COUNTERS)[number];

/**
 * Why a request was refused: admission's reasons (objects/tenant-schema.ts `DenyReason`),
 * `input` (its body or parameters, 400/408/413/415: refused before admission) and `account`
 * (the upstream account is nearly out of threads, `ACCOUNT_EXHAUSTED`).
 */
export const REFUSALS = [...DENY_REASONS, 'account', 'input'] as const;
export type Refusal = (typeof REFUSALS)[number];

/** A metric's stored name: a counter, or `refused.<reason>`. */
export type Metric = Counter | `refused.${Refusal}`;

/** Some counts of one user on one day. */
export type Counts = Partial<Record<Metric, number>>;

/** What a Worker hands the tenant's state object: counts of one user on one UTC day. */
export interface UsageEntry {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  user: string;
  counts: Counts;
}

const METRICS: ReadonlySet<string> = new Set([...COUNTERS, ...REFUSALS.map((r) => `refused.${r}`)]);

/** Whether `name` is a metric of this version (stored rows of another are skipped when read). */
export function isMetric(name: string): name is Metric {
  return METRICS.has(name);
}

/** The UTC day of `at` (epoch ms), `YYYY-MM-DD`. */
export const utcDay = (at: number): string => new Date(at).toISOString().slice(0, 10);
