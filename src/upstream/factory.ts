import type { Config } from '../config';
import { observe } from '../limits/observations';
import type { Tenant } from '../tenant';
import { UpstreamClient } from './client';
import { retryAfterFrom } from './errors';
import { createTokenSource, knownKeyOf } from './tokens';

/** A 429 that says neither when to retry nor when its window resets blocks this long (seconds). */
const RATE_LIMITED_BLOCK_S = 60;

type Defer = (promise: Promise<unknown>) => void;

/** An upstream client for `account`, keeping the account's governor in step with what it sees. */
export function createUpstream(
  env: Env,
  account: Config['upstream'],
  requestId: string,
  defer: Defer,
): UpstreamClient {
  return new UpstreamClient({
    account,
    tokens: createTokenSource({ namespace: env.TOKEN_BROKER, account }),
    requestId,
    timeoutMs: account.timeoutMs,
    onResponse: (res) => noteRateLimit(env, account, res, defer),
  });
}

/**
 * Keeps the account's governor in step with the upstream: every response's
 * `X-RateLimit-*` headers are remembered in the isolate (and travel with the next
 * admission); a 429 tells the governor at once to stop granting, for as long as the
 * upstream's `Retry-After` says (else until its reset; clamped to an hour). A short
 * `Retry-After` on one call must not shut every tenant out until the window's end.
 */
function noteRateLimit(env: Env, upstream: Config['upstream'], res: Response, defer: Defer): void {
  // The admission computed the account key before any upstream call: it is known here.
  const account = knownKeyOf(upstream);
  if (account === undefined) return;
  observe(account, res.headers);
  if (res.status !== 429) return;
  const seconds = retryAfterFrom(res.headers, true) ?? RATE_LIMITED_BLOCK_S;
  defer(env.GOVERNOR.getByName(account).rateLimited(seconds));
}

/** The token scope of the tenant's project: every project-scoped upstream call uses it. */
export const projectScope = (ctx: { tenant: Pick<Tenant, 'project_id'> }) =>
  `project:${ctx.tenant.project_id}` as const;
