import { RetryBaseSchema } from '../config';

/** The default `WEBHOOK_RETRY_BASE_SECONDS`: retries wait 10 s, 20 s, 40 s, … */
export const DEFAULT_RETRY_BASE_SECONDS = RetryBaseSchema.parse(undefined);
/** No retry waits longer than this (seconds). */
export const MAX_RETRY_DELAY_SECONDS = 3600;

/**
 * `WEBHOOK_RETRY_BASE_SECONDS` by the config's schema (a bad value makes the config
 * invalid, and the consumer then retries every delivery later), or the default.
 */
export function retryBaseSeconds(value: unknown): number {
  const parsed = RetryBaseSchema.safeParse(value === '' ? undefined : value);
  return parsed.success ? parsed.data : DEFAULT_RETRY_BASE_SECONDS;
}

/**
 * The delay before retrying after failed attempt number `attempt` (1-based):
 * `base·2^(attempt-1)` seconds, at least `floor` (a `Retry-After` the failure carried),
 * at most {@link MAX_RETRY_DELAY_SECONDS}.
 */
export function backoffSeconds(attempt: number, base: number, floor = 0): number {
  const exponential = base * 2 ** Math.max(0, attempt - 1);
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(Math.ceil(floor), exponential));
}
