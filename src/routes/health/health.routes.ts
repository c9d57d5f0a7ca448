import { createRoute, z } from '@hono/zod-openapi';
import { SECURITY } from '../define';
import { jsonContent } from '../schemas';

export const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  summary: 'Liveness: no auth, no configuration, no upstream call',
  security: SECURITY.public,
  responses: { 200: jsonContent(z.object({ status: z.literal('ok') }).openapi('Health'), 'Alive') },
});
