import { createMiddleware } from 'hono/factory';
import { loadConfig } from '../config';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { log } from '../log';

/**
 * Loads the isolate's configuration (parsed once) into `c.var.config`. An invalid
 * configuration answers `503 CONFIG_INVALID` before anything else runs; the problems
 * (paths and messages, never values) go to the log only.
 */
export function requireConfig() {
  return createMiddleware<AppEnv>(async function requireConfig(c, next) {
    const result = loadConfig(c.env);
    if (!result.ok) {
      log('error', 'config invalid', { request_id: c.var.requestId, problems: result.problems });
      throw new ApiError('CONFIG_INVALID', 'The gateway is not configured correctly.', {
        retryAfter: 60,
      });
    }
    c.set('config', result.config);
    await next();
  });
}
