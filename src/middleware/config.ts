import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { log } from '../log';
import { currentConfig } from '../registry';

/**
 * Loads the configuration in force into `c.get('config')`: the bindings (parsed once per
 * isolate) and the tenant registry (src/registry: cached per isolate, refreshed in the
 * background). An invalid configuration answers `503 CONFIG_INVALID` before anything
 * else runs; the problems (paths and messages, never values) go to the log only.
 */
export function requireConfig() {
  return createMiddleware<AppEnv>(async function requireConfig(c, next) {
    const result = await currentConfig(c.env, (work) => c.executionCtx.waitUntil(work));
    if (!result.ok) {
      log('error', 'config invalid', { request_id: c.get('requestId'), problems: result.problems });
      throw new ApiError('CONFIG_INVALID', 'The gateway is not configured correctly.', {
        retryAfter: 60,
      });
    }
    c.set('config', result.config);
    await next();
  });
}
