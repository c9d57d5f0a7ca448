import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { EmuEnv } from './http';
import { sleep } from './http';
import { IDP_PREFIX } from './idp';
import { getUniverse, REQUEST_LOG_MAX } from './state';
import type { StatusOverride, Universe } from './types';

export const CONTROL_PREFIX = '/__emulator/';

/** Collection routes are registered without the slash (non-strict routing) but counted with it. */
const COLLECTIONS = new Set(['/projects', '/assistants', '/threads', '/files']);

function routeKey(method: string, pattern: string): string {
  return `${method} ${COLLECTIONS.has(pattern) ? `${pattern}/` : pattern}`;
}

interface RateState {
  limit: number;
  remaining: number;
  reset: number;
  limited: boolean;
}

/**
 * Fixed windows, each ending at the next wall-clock minute, or where `POST /__emulator/rate`
 * set the current one to end; every non-control request counts, including rejected ones.
 */
function takeRate(u: Universe, now: number): RateState {
  if (now >= u.rate.windowEnd) u.rate = { windowEnd: (Math.floor(now / 60_000) + 1) * 60_000, count: 0 };
  u.rate.count += 1;
  const limit = u.knobs.rate_limit_per_minute;
  return {
    limit,
    remaining: Math.max(0, limit - u.rate.count),
    reset: Math.ceil(u.rate.windowEnd / 1000),
    limited: u.rate.count > limit,
  };
}

// A trailing `*` matches any rest; a `*` segment elsewhere matches any one segment (a thread id in a run's path).
function pathMatches(pattern: string, path: string): boolean {
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  const strip = (p: string) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p);
  const want = strip(pattern).split('/');
  const got = strip(path).split('/');
  return want.length === got.length && want.every((segment, i) => segment === '*' || segment === got[i]);
}

/** Finds the first live override for the request and consumes one of its `times`. */
function takeOverride(u: Universe, method: string, path: string): StatusOverride | undefined {
  const hit = u.knobs.status_overrides.find(
    (o) =>
      (o.times === undefined || o.times > 0) &&
      (!o.method || o.method.toUpperCase() === method) &&
      pathMatches(o.path, path),
  );
  if (hit && hit.times !== undefined) hit.times -= 1;
  return hit;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Validation Error',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function overrideResponse(o: StatusOverride): Response {
  const headers = new Headers(o.headers);
  const noBody = o.status === 204 || o.status === 205 || o.status === 304;
  let body: string | null = null;
  if (!noBody) {
    if (typeof o.body === 'string') {
      body = o.body;
      if (!headers.has('content-type')) headers.set('content-type', 'text/plain; charset=utf-8');
    } else {
      const json = o.body ?? {
        error: STATUS_TEXT[o.status] ?? `HTTP ${o.status}`,
        detail: 'Injected by emulator status override',
      };
      body = JSON.stringify(json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
  }
  return new Response(body, { status: o.status, headers });
}

/** Reads an unread request body, the way a server does; workerd complains about bodies left unread. */
async function drainBody(req: Request): Promise<void> {
  if (!req.body || req.bodyUsed) return;
  try {
    await req.arrayBuffer();
  } catch {
    // the client went away; nothing to drain
  }
}

/**
 * Resolves the universe, then for non-control requests: latency, rate limit, status overrides,
 * the route itself, rate-limit headers and the counters.
 */
export const gate: MiddlewareHandler<EmuEnv> = async (c, next) => {
  const url = new URL(c.req.url);
  const u = getUniverse(url.host);
  c.set('u', u);
  // The control API and the stand-in IdP are not the Epsimo API: nothing of theirs is counted.
  if (url.pathname.startsWith(CONTROL_PREFIX) || url.pathname.startsWith(IDP_PREFIX)) {
    await next();
    return;
  }
  const method = c.req.method;
  const key = routeKey(method, routePath(c, -1));
  if (u.knobs.latency_ms > 0) await sleep(u.knobs.latency_ms);
  const now = Date.now();
  const rate = takeRate(u, now);
  let res: Response;
  if (rate.limited) {
    u.stats.rate_limited += 1;
    res = c.json({ error: 'Too Many Requests', detail: 'Rate limit exceeded' }, 429);
    res.headers.set('Retry-After', String(Math.max(1, Math.ceil(rate.reset - now / 1000))));
  } else {
    const override = takeOverride(u, method, url.pathname);
    if (override) {
      res = overrideResponse(override);
    } else {
      await next();
      res = c.res;
    }
  }
  await drainBody(c.req.raw);
  res.headers.set('X-RateLimit-Limit', String(rate.limit));
  res.headers.set('X-RateLimit-Remaining', String(rate.remaining));
  res.headers.set('X-RateLimit-Reset', String(rate.reset));
  u.stats.requests[key] = (u.stats.requests[key] ?? 0) + 1;
  u.stats.request_log.push({
    method,
    path: url.pathname,
    authorization: c.req.header('authorization') ?? null,
    status: res.status,
  });
  if (u.stats.request_log.length > REQUEST_LOG_MAX) {
    u.stats.request_log.splice(0, u.stats.request_log.length - REQUEST_LOG_MAX);
  }
  return res;
};
