import type { Config } from '../config';
import { createUpstream } from '../upstream/factory';
import { UpstreamCreditsSchema } from '../upstream/schemas';
import { keyOf } from '../upstream/tokens';

/**
 * `GET /admin/v1/account`: the upstream account's thread allowance, read now
 * (`GET /credits/balance`, through the upstream client like every upstream call), and
 * what the account's governor has learnt of its request budget.
 */
export async function accountView(env: Env, config: Config, requestId: string) {
  const upstream = createUpstream(env, config.upstream, requestId, () => undefined);
  const credits = await upstream.json(
    { method: 'GET', path: ['credits', 'balance'], scope: 'account' },
    UpstreamCreditsSchema,
  );
  const governor = await env.GOVERNOR.getByName(await keyOf(config.upstream)).snapshot();
  return {
    thread_counter: credits.thread_counter,
    thread_max: credits.thread_max,
    threads_remaining: credits.threads_remaining ?? Math.max(0, credits.thread_max - credits.thread_counter),
    tier: credits.subscription_tier ?? null,
    reserve: config.accountThreadReserve,
    governor: {
      limit: governor.limit,
      synced: governor.synced,
      window: { reset_at: governor.resetAt, budget: governor.budget, used: governor.used },
      blocked_until: governor.blockedUntil || null,
    },
  };
}
