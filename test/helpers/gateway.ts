import { sign } from 'hono/jwt';
import { createEdgeClient, type EdgeClient } from '../../src/client';
import { TENANTS } from '../fixtures/tenants';
import { type EmulatorControl, freshEmulator } from './emulator';
import { unique } from './fixtures';
import { callWorker } from './worker';

type TenantConfig = Record<string, unknown> & { session_secret?: string };

export interface GatewayOptions {
  /** The emulator universe the Worker talks to (default: a fresh one). */
  emulator?: EmulatorControl;
  /** Tenant configs by base name; each gets a unique id so test files never share state. */
  tenants?: Record<string, TenantConfig>;
  /** More bindings for this gateway, e.g. shorter stream timings. */
  bindings?: Partial<Record<keyof Env, string>>;
}

export interface Caller {
  tenant: string;
  user: string;
  token: string;
  /**
   * The project's typed client (`createEdgeClient`, `hc<AppType>`) for this user, calling
   * the Worker entry point: what a test reading a typed body uses.
   */
  edge: EdgeClient;
  /**
   * Calls the Worker for this user (JSON in, Response out): for what a typed client cannot
   * send (malformed JSON, a wrong content type, bogus auth, ids that are not ids).
   */
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
}

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** `false` sends no Authorization header; a string replaces the token. */
  auth?: false | string;
  /** Aborts the request, the way workerd does when the caller disconnects. */
  signal?: AbortSignal;
}

/** Signs a session token the way a tenant's backend would (HS256 with its secret). */
export async function sessionToken(
  secret: string,
  claims: Record<string, unknown>,
  alg: 'HS256' | 'HS512' = 'HS256',
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ iat: now, exp: now + 600, ...claims }, secret, alg);
}

type FetchWorker = (path: string, init?: RequestInit) => Promise<Response>;

/** A user of `tenant` (its id in the registry) whose calls go through `fetchWorker`. */
export async function callerOf(
  fetchWorker: FetchWorker,
  tenant: string,
  secret: string,
  user: string,
): Promise<Caller> {
  const token = await sessionToken(secret, { tenant, sub: user });
  // `hc` calls its fetch with a URL string and a RequestInit.
  const edgeFetch = (input: RequestInfo | URL, init?: RequestInit) =>
    input instanceof Request ? fetchWorker(input.url, input) : fetchWorker(String(input), init);
  return {
    tenant,
    user,
    token,
    edge: createEdgeClient({ baseUrl: 'https://edge.test', token, fetch: edgeFetch }),
    request(method, path, { json, body, headers = {}, auth, signal } = {}) {
      const all: Record<string, string> = { ...headers };
      if (auth !== false) all.authorization = `Bearer ${auth ?? token}`;
      if (json !== undefined) all['content-type'] = 'application/json';
      return fetchWorker(path, {
        method,
        headers: all,
        body: json !== undefined ? JSON.stringify(json) : body,
        ...(signal ? { signal } : {}),
      });
    },
  };
}

/**
 * A user of tenant `name` of the base test bindings (vitest.config.ts), the ones the queue
 * consumer runs with: for webhook tests, whose deliveries run outside any test's overrides.
 */
export function baseCaller(name: keyof typeof TENANTS, user = `user-${unique()}`): Promise<Caller> {
  return callerOf(callWorker, name, TENANTS[name].session_secret, user);
}

/**
 * A gateway under test: the real Worker entry point, configured with tenants whose ids
 * are unique to this instance and an emulator universe of its own.
 */
export function testGateway(options: GatewayOptions = {}) {
  const emulator = options.emulator ?? freshEmulator();
  const suffix = unique();
  const configs: Record<string, TenantConfig> = options.tenants ?? { ...TENANTS };
  const ids = Object.fromEntries(Object.keys(configs).map((name) => [name, `${name}-${suffix}`]));
  const registry = Object.fromEntries(Object.entries(configs).map(([name, config]) => [ids[name], config]));
  const overrides = {
    ...options.bindings,
    EPSIMO_BASE_URL: emulator.baseUrl,
    TENANTS: JSON.stringify(registry),
  };

  const fetchWorker = (path: string, init: RequestInit = {}) => callWorker(path, init, overrides);

  /** A user of tenant `name` (default: a fresh random user). */
  async function caller(name: string, user = `user-${unique()}`): Promise<Caller> {
    const config = configs[name];
    const tenant = ids[name];
    if (!config || !tenant) throw new Error(`no tenant ${name}`);
    const secret = config.session_secret;
    if (typeof secret !== 'string') throw new Error(`tenant ${name} has no session_secret to sign with`);
    return callerOf(fetchWorker, tenant, secret, user);
  }

  return { emulator, ids, overrides, fetch: fetchWorker, caller };
}
