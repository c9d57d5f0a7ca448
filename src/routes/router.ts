import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { validationError } from '../middleware/validate';

/**
 * A router whose every request validator (params, query, JSON body) fails with the
 * contract's `400 VALIDATION_ERROR` naming the field; handlers read input only via
 * `c.req.valid(...)`.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error.issues[0]);
    },
  });
}
