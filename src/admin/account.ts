import type { Config } from '../config';
import { UpstreamClient } from '../upstream/client';
import { UpstreamCreditsSchema } from '../upstream/schemas';
import { createTokenSource, keyOf } from '../upstream/tokens';

/**
 * `GET /admin/v1/account`: the upstream account's thread allowance, read now
 * (`GET /credits/balance`, through the upstream client like every upstream call), and
 * what the account's governor has learnt of its request budget.
 */
export async function accountView(env: Env, config: Config, requestId: string) {
  const upstream = new UpstreamClient({
    account: config.upstream,
    tokens: createTokenSource({ namespace: env.TOKEN_BROKER, account: config.upstream }),
    requestId,
    timeoutMs: config.upstream.timeoutMs,
  });
  const credits = await upstream.json(
    { method: 'GET', path: ['credits', 'balance'], scope: 'account' },
    UpstreamCreditsSchema,
  );
  const governor = await env.GOVERNOR.getByName(await keyOf(config.upstream)).budget();
  return {
    thread_counter: credits.thread_counter,
    thread_max: credits.thread_max,
    threads_remaining: credits.threads_remaining ?? Math.max(0, credits.thread_max - credits.thread_counter),
    tier: credits.subscription_tier ?? null,
    reserve: config.accountThreadReserve,
    governor: {
      limit: governor.limit,
      synced: governor.synced,
      window: governor.window ?? null,
      tenants: governor.tenants,
    },
  };
}
