import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { log } from '../log';
import { meter } from '../metering/usage';
import { requestContext } from '../routes/context';

/**
 * One structured JSON line per request: request id, tenant, route, status, duration,
 * upstream calls and the limiter's outcome. Only these fields are ever written, so no
 * header, body, token or secret can reach the log by construction. For a run stream,
 * `duration_ms` is the time to the response headers; the stream's end is logged by
 * the relay when it ends without `done`. An end user's request is metered here too: it
 * counts once (with its refusal, if admission or its input refused it) with its upstream
 * calls, and the request's counts are sent to the tenant's state after the response.
 */
export function accessLog() {
  return createMiddleware<AppEnv>(async function accessLog(c, next) {
    const started = Date.now();
    try {
      await next();
    } finally {
      log(c.res.status >= 500 ? 'error' : 'info', 'request', {
        request_id: c.get('requestId'),
        tenant: c.get('tenant')?.id ?? null,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        duration_ms: Date.now() - started,
        upstream_calls: c.get('context')?.upstream.upstreamCalls ?? 0,
        limiter: c.get('limiter') ?? 'none',
      });
      if (c.get('user') !== undefined && c.get('tenant') !== undefined) meterRequest(c);
    }
  });
}

/** The request's own counts, then everything it counted, on their way (after the response). */
function meterRequest(c: Context<AppEnv>): void {
  const ctx = requestContext(c);
  const limiter = c.get('limiter');
  const refused =
    limiter === 'input_refused'
      ? 'input'
      : limiter === undefined ||
          limiter === 'admitted' ||
          limiter === 'local' ||
          limiter === 'fail_open' ||
          limiter === 'error'
        ? undefined
        : limiter;
  meter(ctx, {
    requests: 1,
    upstream_calls: ctx.upstream.upstreamCalls,
    ...(refused === undefined ? {} : { [`refused.${refused}` as const]: 1 }),
  });
  const shipping = ctx.usage.ship();
  if (shipping) ctx.defer(shipping);
}
