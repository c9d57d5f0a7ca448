import type { Context } from 'hono';
import type { Config, Tenant } from '../config';
import type { AppEnv } from '../env';
import { observe } from '../limits/observations';
import { errorName, log } from '../log';
import type { Admission, TenantState } from '../objects/tenant-state';
import { UpstreamClient } from '../upstream/client';
import { createTokenSource, knownKeyOf } from '../upstream/tokens';

type Granted = Extract<Admission, { ok: true }>;

/** What a service needs of one authenticated request. */
export interface Gateway {
  config: Config;
  tenant: Tenant;
  user: string;
  requestId: string;
  upstream: UpstreamClient;
  state: DurableObjectStub<TenantState>;
  /** Aborts when the caller goes away. */
  signal: AbortSignal;
  /** Keeps the request alive until `promise` settles (e.g. releasing a lease). */
  defer(promise: Promise<unknown>): void;
  /** What the tenant's state granted this request (set by the admission middleware). */
  admitted: Granted | undefined;
  /**
   * Reservations and leases a service took responsibility for; the admission
   * middleware gives back every other one when the request ends.
   */
  claimed: Set<string>;
  /** The limiter's outcome, for the access log: `admitted`, a refusal reason, or a failure mode. */
  limiter: string | undefined;
}

/** What a {@link Gateway} is built from: a request, or a background job (webhook runs). */
export interface GatewayDeps {
  env: Env;
  config: Config;
  tenant: Tenant;
  user: string;
  requestId: string;
  signal: AbortSignal;
  defer(promise: Promise<unknown>): void;
}

/** Builds a {@link Gateway} outside Hono (the Queue consumer uses this). */
export function createGateway({ env, config, tenant, user, requestId, signal, defer }: GatewayDeps): Gateway {
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
    state: env.TENANT_STATE.get(env.TENANT_STATE.idFromName(tenant.id)),
    signal,
    defer,
    admitted: undefined,
    claimed: new Set(),
    limiter: undefined,
  };
}

/** The request's {@link Gateway}; built once per request, on first use. */
export function gateway(c: Context<AppEnv>): Gateway {
  const existing = c.get('gateway');
  if (existing) return existing;
  const built = createGateway({
    env: c.env,
    config: c.var.config,
    tenant: c.var.tenant,
    user: c.var.user,
    requestId: c.var.requestId,
    signal: c.req.raw.signal,
    defer: (promise) =>
      c.executionCtx.waitUntil(promise.catch((error: unknown) => deferredFailed(c.var.requestId, error))),
  });
  c.set('gateway', built);
  return built;
}

/**
 * Keeps the account's governor in step with the upstream: every response's
 * `X-RateLimit-*` headers are remembered in the isolate (and travel with the next
 * admission); a 429 tells the governor at once that the window is spent.
 */
function noteRateLimit(env: Env, config: Config, res: Response, defer: GatewayDeps['defer']): void {
  // The admission computed the account key before any upstream call: it is known here.
  const account = knownKeyOf(config.upstream);
  if (account === undefined) return;
  const seen = observe(account, res.headers);
  if (res.status !== 429) return;
  const retryAfter = Number(res.headers.get('Retry-After'));
  const resetAt = seen?.resetAt ?? Date.now() + (Number.isFinite(retryAfter) ? retryAfter * 1000 : 60_000);
  defer(env.GOVERNOR.get(env.GOVERNOR.idFromName(account)).exhausted(resetAt));
}

/** A background step (lease release, permit refund, governor note) failed: log it, never throw. */
function deferredFailed(requestId: string, error: unknown): void {
  log('warn', 'background step failed', {
    request_id: requestId,
    error: errorName(error),
  });
}

/** The token scope of the tenant's project: every project-scoped upstream call uses it. */
export const projectScope = (gw: Pick<Gateway, 'tenant'>) => `project:${gw.tenant.project_id}` as const;

/** The admission of this request; services behind the admission middleware only. */
export function admitted(gw: Gateway): Granted {
  if (!gw.admitted) throw new Error('route is missing its admission middleware');
  return gw.admitted;
}
