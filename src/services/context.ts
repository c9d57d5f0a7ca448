import type { Config } from '../config';
import { UsageTally } from '../metering/usage';
import type { TenantState } from '../objects/tenant-state';
import type { ThreadRuns } from '../objects/thread-runs';
import type { Tenant } from '../tenant';
import type { UpstreamClient } from '../upstream/client';
import { createUpstream } from '../upstream/factory';

export { projectScope } from '../upstream/factory';

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
  let state: DurableObjectStub<TenantState> | undefined;
  return {
    config,
    tenant,
    user,
    requestId,
    upstream: createUpstream(env, config.upstream, requestId, defer),
    // Made on first use: a read admitted in the isolate never calls the object.
    get state() {
      state ??= env.TENANT_STATE.getByName(tenant.scope);
      return state;
    },
    runs: env.THREAD_RUNS,
    usage: new UsageTally({
      // The scope, not the id: the isolate's outbox sends each incarnation's counts to its own object.
      tenant: tenant.scope,
      user,
      requestId,
      stub: () => env.TENANT_STATE.getByName(tenant.scope),
      coalesce: true,
    }),
    signal,
    defer,
  };
}
