import type { Context } from 'hono';
import type { Config, Tenant } from '../config';
import type { AppEnv } from '../env';
import { observe } from '../limits/observations';
import { errorName, log } from '../log';
import type { TenantState } from '../objects/tenant-state';
import type { ThreadRuns } from '../objects/thread-runs';
import { UpstreamClient } from '../upstream/client';
import { retryAfterFrom } from '../upstream/errors';
import { createTokenSource, knownKeyOf } from '../upstream/tokens';

/** A 429 that says neither when to retry nor when its window resets blocks this long (seconds). */
const RATE_LIMITED_BLOCK_S = 60;

/**
 * What a service needs of one authenticated request, or of one background job: fixed
 * values only. What admission granted is not here: services take their grant (or the
 * hold they consume) as an argument (services/admission.ts).
 */
export interface RequestContext {
  config: Config;
  tenant: Tenant;
  user: string;
  requestId: string;
  upstream: UpstreamClient;
  state: DurableObjectStub<TenantState>;
  /** The tenant's threads' runs objects, one per thread (services/run.ts). */
  runs: DurableObjectNamespace<ThreadRuns>;
  /** Aborts when the caller goes away (or a job's time is up). */
  signal: AbortSignal;
  /** Keeps the request alive until `promise` settles (e.g. releasing a lease). */
  defer(promise: Promise<unknown>): void;
}

/** What a {@link RequestContext} is built from: a request, or a background job (webhook runs). */
export interface ContextDeps {
  env: Env;
  config: Config;
  tenant: Tenant;
  user: string;
  requestId: string;
  signal: AbortSignal;
  defer(promise: Promise<unknown>): void;
}

/** Builds a {@link RequestContext} outside Hono (the Queue consumer uses this). */
export function createContext({
  env,
  config,
  tenant,
  user,
  requestId,
  signal,
  defer,
}: ContextDeps): RequestContext {
  return {
    config,
    tenant,
    user,
    requestId,
    upstream: createUpstream(env, config.upstream, requestId, defer),
    state: env.TENANT_STATE.getByName(tenant.id),
    runs: env.THREAD_RUNS,
    signal,
    defer,
  };
}

/** An upstream client for `account`, keeping the account's governor in step with what it sees. */
export function createUpstream(
  env: Env,
  account: Config['upstream'],
  requestId: string,
  defer: ContextDeps['defer'],
): UpstreamClient {
  return new UpstreamClient({
    account,
    tokens: createTokenSource({ namespace: env.TOKEN_BROKER, account }),
    requestId,
    timeoutMs: account.timeoutMs,
    onResponse: (res) => noteRateLimit(env, account, res, defer),
  });
}

/** The request's {@link RequestContext}; built once per request, on first use. */
export function requestContext(c: Context<AppEnv>): RequestContext {
  const existing = c.get('context');
  if (existing) return existing;
  const built = createContext({
    env: c.env,
    config: c.var.config,
    tenant: c.var.tenant,
    user: c.var.user,
    requestId: c.var.requestId,
    signal: c.req.raw.signal,
    defer: (promise) =>
      c.executionCtx.waitUntil(promise.catch((error: unknown) => deferredFailed(c.var.requestId, error))),
  });
  c.set('context', built);
  return built;
}

/**
 * Keeps the account's governor in step with the upstream: every response's
 * `X-RateLimit-*` headers are remembered in the isolate (and travel with the next
 * admission); a 429 tells the governor at once to stop granting, for as long as the
 * upstream's `Retry-After` says (else until its reset; clamped to an hour). A short
 * `Retry-After` on one call must not shut every tenant out until the window's end.
 */
function noteRateLimit(
  env: Env,
  upstream: Config['upstream'],
  res: Response,
  defer: ContextDeps['defer'],
): void {
  // The admission computed the account key before any upstream call: it is known here.
  const account = knownKeyOf(upstream);
  if (account === undefined) return;
  observe(account, res.headers);
  if (res.status !== 429) return;
  const seconds = retryAfterFrom(res.headers, true) ?? RATE_LIMITED_BLOCK_S;
  defer(env.GOVERNOR.getByName(account).rateLimited(seconds));
}

/** A background step (lease release, permit refund, governor note) failed: log it, never throw. */
function deferredFailed(requestId: string, error: unknown): void {
  log('warn', 'background step failed', {
    request_id: requestId,
    error: errorName(error),
  });
}

/** The token scope of the tenant's project: every project-scoped upstream call uses it. */
export const projectScope = (ctx: { tenant: Pick<Tenant, 'project_id'> }) =>
  `project:${ctx.tenant.project_id}` as const;
