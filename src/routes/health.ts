import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from './router';
import { jsonContent } from './schemas';

const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  summary: 'Liveness: no auth, no configuration, no upstream call',
  responses: { 200: jsonContent(z.object({ status: z.literal('ok') }).openapi('Health'), 'Alive') },
});

/** `GET /healthz`: liveness only; answers even when the configuration is invalid. */
export const healthRoutes = createRouter().openapi(health, (c) =>
  c.json({ status: 'ok' as const }, 200, { 'Cache-Control': 'no-store' }),
);
