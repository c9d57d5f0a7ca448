import { createMiddleware } from 'hono/factory';
import type { Config } from '../config';
import type { AppEnv } from '../env';

// A run's retry headers, so a browser can resume without paying twice (`POST .../run`).
const ALLOW_HEADERS = 'Authorization, Content-Type, X-Request-Id, Idempotency-Key, Last-Event-ID';
const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
// X-Run-Id and Location name a started run (what a frontend resumes by).
const EXPOSE_HEADERS = 'X-Request-Id, RateLimit, RateLimit-Policy, Retry-After, X-Run-Id, Location';

const allOrigins = new WeakMap<Config, ReadonlySet<string>>();

/** Every origin any tenant allows; used only where no tenant is known yet. */
function anyTenantOrigins(config: Config): ReadonlySet<string> {
  let origins = allOrigins.get(config);
  if (!origins) {
    origins = new Set([...config.tenants.values()].flatMap((tenant) => tenant.origins));
    allOrigins.set(config, origins);
  }
  return origins;
}

/**
 * Per-tenant CORS. `hono/cors` decides before the handler runs, but the tenant is
 * only known after authentication, so this middleware decides after it:
 * - a preflight (no credentials, so no tenant) is allowed for an origin some tenant
 *   lists; any other origin gets no `Access-Control-Allow-Origin`;
 * - an actual response is readable only by the authenticated tenant's own origins
 *   (or, when authentication failed, by an origin some tenant lists, so a frontend
 *   can see its 401).
 */
export function tenantCors() {
  return createMiddleware<AppEnv>(async function tenantCors(c, next) {
    const origin = c.req.header('Origin');
    if (c.req.method === 'OPTIONS' && c.req.header('Access-Control-Request-Method')) {
      // A Response returned here skips the headers set with c.header(): add the request id back.
      const headers = new Headers({ Vary: 'Origin', 'X-Request-Id': c.get('requestId') });
      if (origin && anyTenantOrigins(c.get('config')).has(origin)) {
        headers.set('Access-Control-Allow-Origin', origin);
        headers.set('Access-Control-Allow-Methods', ALLOW_METHODS);
        headers.set('Access-Control-Allow-Headers', ALLOW_HEADERS);
        headers.set('Access-Control-Max-Age', '600');
      }
      return new Response(null, { status: 204, headers });
    }
    try {
      await next();
    } finally {
      c.res.headers.append('Vary', 'Origin');
      const allowed = c.get('tenant')
        ? c.get('tenant').origins.includes(origin ?? '')
        : anyTenantOrigins(c.get('config')).has(origin ?? '');
      if (origin && allowed) {
        c.res.headers.set('Access-Control-Allow-Origin', origin);
        c.res.headers.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      }
    }
  });
}
