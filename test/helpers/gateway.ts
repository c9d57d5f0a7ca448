import { sign } from 'hono/jwt';
import { TENANTS } from '../fixtures/tenants';
import { type EmulatorControl, freshEmulator } from './emulator';
import { callWorker } from './worker';

type TenantConfig = Record<string, unknown>;

export interface GatewayOptions {
  /** The emulator universe the Worker talks to (default: a fresh one). */
  emulator?: EmulatorControl;
  /** Tenant configs by base name; each gets a unique id so test files never share state. */
  tenants?: Record<string, TenantConfig>;
}

export interface Caller {
  tenant: string;
  user: string;
  token: string;
  /** Calls the Worker as this user (JSON in, Response out). */
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
}

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** `false` sends no Authorization header; a string replaces the token. */
  auth?: false | string;
  /** Aborts the request, as workerd does when the caller disconnects. */
  signal?: AbortSignal;
}

const unique = () => crypto.randomUUID().replaceAll('-', '').slice(0, 10);

/** Signs a session token the way a tenant's backend would (HS256 with its secret). */
export async function sessionToken(
  secret: string,
  claims: Record<string, unknown>,
  alg: 'HS256' | 'HS512' = 'HS256',
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ iat: now, exp: now + 600, ...claims }, secret, alg);
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
  const overrides = { EPSIMO_BASE_URL: emulator.baseUrl, TENANTS: JSON.stringify(registry) };

  const fetchWorker = (path: string, init: RequestInit = {}) => callWorker(path, init, overrides);

  /** A user of tenant `name` (default: a fresh random user). */
  async function caller(name: string, user = `user-${unique()}`): Promise<Caller> {
    const config = configs[name];
    const tenant = ids[name];
    if (!config || !tenant) throw new Error(`no tenant ${name}`);
    const secret = config.session_secret;
    if (typeof secret !== 'string') throw new Error(`tenant ${name} has no session_secret to sign with`);
    const token = await sessionToken(secret, { tenant, sub: user });
    return {
      tenant,
      user,
      token,
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

  return { emulator, ids, overrides, fetch: fetchWorker, caller };
}
