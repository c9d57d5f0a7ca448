import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { log } from '../log';

/**
 * One structured JSON line per request: request id, tenant, route, status, duration,
 * upstream calls and the limiter's outcome. Only these fields are ever written, so no
 * header, body, token or secret can reach the log by construction. For a run stream,
 * `duration_ms` is the time to the response headers; the stream's end is logged by
 * the relay when it ends without `done`.
 */
export function accessLog() {
  return createMiddleware<AppEnv>(async function accessLog(c, next) {
    const started = Date.now();
    try {
      await next();
    } finally {
      log(c.res.status >= 500 ? 'error' : 'info', 'request', {
        request_id: c.var.requestId,
        tenant: c.get('tenant')?.id ?? null,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        duration_ms: Date.now() - started,
        upstream_calls: c.var.context?.upstream.upstreamCalls ?? 0,
        limiter: c.var.limiter ?? 'none',
      });
    }
  });
}
