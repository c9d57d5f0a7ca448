import type { Context } from 'hono';
import type { Config, Tenant } from '../config';
import type { AppEnv } from '../env';
import { observe } from '../limits/observations';
import { errorName, log } from '../log';
import { UsageTally } from '../metering/usage';
import type { TenantState } from '../objects/tenant-state';
import { UpstreamClient } from '../upstream/client';
import { createTokenSource, knownKeyOf } from '../upstream/tokens';

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
  /** What this request or job has metered so far (metering/usage.ts `meter`); sent when it ends. */
  usage: UsageTally;
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
    upstream: new UpstreamClient({
      account: config.upstream,
      tokens: createTokenSource({ namespace: env.TOKEN_BROKER, account: config.upstream }),
      requestId,
      timeoutMs: config.upstream.timeoutMs,
      onResponse: (res) => noteRateLimit(env, config, res, defer),
    }),
    state: env.TENANT_STATE.getByName(tenant.id),
    usage: new UsageTally({
      tenant: tenant.id,
      user,
      requestId,
      stub: () => env.TENANT_STATE.getByName(tenant.id),
    }),
    signal,
    defer,
  };
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
 * admission); a 429 tells the governor at once that the window is spent.
 */
function noteRateLimit(env: Env, config: Config, res: Response, defer: ContextDeps['defer']): void {
  // The admission computed the account key before any upstream call: it is known here.
  const account = knownKeyOf(config.upstream);
  if (account === undefined) return;
  const seen = observe(account, res.headers);
  if (res.status !== 429) return;
  const retryAfter = Number(res.headers.get('Retry-After'));
  const resetAt = seen?.resetAt ?? Date.now() + (Number.isFinite(retryAfter) ? retryAfter * 1000 : 60_000);
  defer(env.GOVERNOR.getByName(account).exhausted(resetAt));
}

/** A background step (lease release, permit refund, governor note) failed: log it, never throw. */
function deferredFailed(requestId: string, error: unknown): void {
  log('warn', 'background step failed', {
    request_id: requestId,
    error: errorName(error),
  });
}

/** The token scope of the tenant's project: every project-scoped upstream call uses it. */
export const projectScope = (ctx: Pick<RequestContext, 'tenant'>) =>
  `project:${ctx.tenant.project_id}` as const;
