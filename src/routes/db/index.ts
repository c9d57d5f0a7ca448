import { createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from '../../errors';
import { admission } from '../../middleware/admission';
import * as db from '../../services/db';
import { gateway } from '../../services/gateway';
import { createRouter } from '../router';
import {
  DbKeyParams,
  errorResponses,
  JsonValueSchema,
  jsonBody,
  jsonContent,
  ThreadParams,
} from '../schemas';

const getAll = createRoute({
  method: 'get',
  path: '/threads/{thread_id}/db',
  operationId: 'getThreadDb',
  summary: "The thread's virtual database, all keys",
  middleware: [admission({ owns: { kind: 'thread', param: 'thread_id' } })] as const,
  request: { params: ThreadParams },
  responses: {
    200: jsonContent(z.record(z.string(), JsonValueSchema), 'All keys'),
    ...errorResponses(400, 404),
  },
});

const getKey = createRoute({
  method: 'get',
  path: '/threads/{thread_id}/db/{key}',
  operationId: 'getThreadDbKey',
  summary: 'One key; 404 if absent',
  middleware: [admission({ owns: { kind: 'thread', param: 'thread_id' } })] as const,
  request: { params: DbKeyParams },
  responses: { 200: jsonContent(JsonValueSchema, 'The value'), ...errorResponses(400, 404) },
});

const PutBody = z.object({ value: JsonValueSchema }).strict().openapi('DbPut');

const putKey = createRoute({
  method: 'put',
  path: '/threads/{thread_id}/db/{key}',
  operationId: 'putThreadDbKey',
  summary: 'Set one key (value at most 64 KiB)',
  middleware: [
    admission({ owns: { kind: 'thread', param: 'thread_id' } }),
    bodyLimit({
      maxSize: db.MAX_DB_VALUE_BYTES + 1024,
      onError: () => {
        throw new ApiError(413, 'PAYLOAD_TOO_LARGE', 'value is over 64 KiB.', { field: 'value' });
      },
    }),
  ] as const,
  request: { params: DbKeyParams, body: jsonBody(PutBody) },
  responses: {
    200: jsonContent(z.object({ key: z.string(), value: JsonValueSchema }), 'Stored'),
    ...errorResponses(400, 404, 413),
  },
});

/** The virtual database of the caller's threads. */
export const dbRoutes = createRouter()
  .openapi(getAll, async (c) => c.json(await db.getAll(gateway(c), c.req.valid('param').thread_id), 200))
  .openapi(getKey, async (c) => {
    const { thread_id, key } = c.req.valid('param');
    return c.json(await db.getKey(gateway(c), thread_id, key), 200);
  })
  .openapi(putKey, async (c) => {
    const { thread_id, key } = c.req.valid('param');
    return c.json(await db.putKey(gateway(c), thread_id, key, c.req.valid('json').value), 200);
  });
