import { BoundedMap } from '../bounded-map';
import { ApiError } from '../errors';
import { errorName, log } from '../log';
import { UpstreamCreditsSchema } from '../upstream/schemas';
import { keyOf } from '../upstream/tokens';
import type { RequestContext } from './context';

/** What this isolate last learnt of each upstream account's thread allowance. */
const allowance = new BoundedMap<string, { remaining: number; checkedAt: number }>(100);
/** When each account's operator alarm was last logged. */
const alarmed = new BoundedMap<string, number>(100);

/** An account's allowance is asked again after this long (and after any refused creation). */
const REFRESH_MS = 60_000;
const ALARM_EVERY_MS = 60_000;

/**
 * The account guard: thread creation and runs cost the operator threads, and an
 * account that runs out stops every tenant at once. While the upstream account has at
 * most `ACCOUNT_THREAD_RESERVE` threads left, this refuses them for every tenant with
 * `503 ACCOUNT_EXHAUSTED` and logs an operator alarm once a minute. The allowance
 * (`GET /credits/balance`) is read once per isolate, then refreshed in the background at
 * most once a minute; an account whose allowance cannot be read is not refused.
 */
export async function guardAccount(ctx: RequestContext): Promise<void> {
  const key = await keyOf(ctx.config.upstream);
  const known = allowance.get(key);
  const now = Date.now();
  if (!known) await refresh(ctx, key);
  else if (now - known.checkedAt >= REFRESH_MS) {
    known.checkedAt = now; // one refresh at a time per isolate
    ctx.defer(refresh(ctx, key));
  }
  const remaining = allowance.get(key)?.remaining;
  if (remaining === undefined || remaining > ctx.config.accountThreadReserve) return;
  if (now - (alarmed.get(key) ?? 0) >= ALARM_EVERY_MS) {
    alarmed.set(key, now);
    log('error', 'operator alarm: upstream account nearly out of threads', {
      threads_remaining: remaining,
      reserve: ctx.config.accountThreadReserve,
    });
  }
  throw new ApiError('ACCOUNT_EXHAUSTED', 'The gateway cannot start more threads or runs right now.', {
    retryAfter: REFRESH_MS / 1000,
  });
}

/** The upstream refused a creation: the allowance is asked again on the next admission. */
export async function allowanceStale(ctx: RequestContext): Promise<void> {
  allowance.delete(await keyOf(ctx.config.upstream));
}

async function refresh(ctx: RequestContext, key: string): Promise<void> {
  try {
    const credits = await ctx.upstream.json(
      { method: 'GET', path: ['credits', 'balance'], scope: 'account' },
      UpstreamCreditsSchema,
    );
    const remaining = credits.threads_remaining ?? Math.max(0, credits.thread_max - credits.thread_counter);
    allowance.set(key, { remaining, checkedAt: Date.now() });
  } catch (error) {
    log('warn', 'account allowance unavailable', { request_id: ctx.requestId, error: errorName(error) });
    // Unknown is not refused; asked again in a minute, not on every request meanwhile.
    const known = allowance.get(key);
    allowance.set(key, { remaining: known?.remaining ?? Number.POSITIVE_INFINITY, checkedAt: Date.now() });
  }
}
