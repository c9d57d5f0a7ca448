import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import { TenantKeySchema } from '../../tenant';
import { SECURITY } from '../define';
import { ErrorSchema } from '../schemas';

/**
 * Operator route errors: the admin key (401), the admin rate limit (429), the registry
 * (503), and the given ones. A route with a body cap (413) also has the body deadline
 * (408) that every admin route runs (app.ts), as on the session routes.
 */
export function adminErrors(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: 'Bad input (`field` names it)',
    401: 'No or wrong operator key (a session token is not one)',
    404: 'No such tenant',
    408: 'The request body did not arrive in time (`BODY_TIMEOUT_MS`)',
    413: 'Body over 64 KiB',
    415: 'The body’s `Content-Type` is not one the route takes',
    429: 'Over the admin API’s rate limit',
    502: 'The upstream answered with something unusable',
    503: 'The registry or the upstream cannot be reached',
    504: 'The upstream did not answer in time',
  };
  const withBody = statuses.includes(413) ? [408] : [];
  const all = [...new Set([...statuses, ...withBody, 401, 429, 503])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      {
        description: descriptions[status] ?? 'Error',
        content: { 'application/json': { schema: ErrorSchema } },
      },
    ]),
  );
}

/** An operator route: `Authorization: Bearer <operator key>` (its SHA-256 in `ADMIN_KEY_HASHES`). */
export const adminRoute = <const R extends RouteConfig>(config: R) =>
  createRoute({ ...config, security: SECURITY.admin });

export const TenantParams = z
  .object({ tenant: TenantKeySchema.openapi({ param: { name: 'tenant', in: 'path' }, example: 'acme' }) })
  .strict();
export const UserParams = TenantParams.extend({
  sub: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: 'sub', in: 'path' }, example: 'user-42' }),
}).strict();
