import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { errorName, log } from '../log';
import { createContext, type RequestContext } from '../services/context';

/** The request's {@link RequestContext}; built once per request, on first use. */
export function requestContext(c: Context<AppEnv>): RequestContext {
  const existing = c.get('context');
  if (existing) return existing;
  const built = createContext({
    env: c.env,
    config: c.get('config'),
    tenant: c.get('tenant'),
    user: c.get('user'),
    requestId: c.get('requestId'),
    signal: c.req.raw.signal,
    defer: (promise) =>
      c.executionCtx.waitUntil(promise.catch((error: unknown) => deferredFailed(c.get('requestId'), error))),
  });
  c.set('context', built);
  return built;
}

/** A background step (lease release, permit refund, governor note) failed: log it, never throw. */
function deferredFailed(requestId: string, error: unknown): void {
  log('warn', 'background step failed', {
    request_id: requestId,
    error: errorName(error),
  });
}
