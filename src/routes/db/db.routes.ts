import { z } from '@hono/zod-openapi';
import { MAX_DB_VALUE_BYTES } from '../../services/db';
import { limitBody, sessionRoute } from '../define';
import {
  DbKeyParams,
  errorResponses,
  JsonValueSchema,
  jsonBody,
  jsonContent,
  ThreadParams,
} from '../schemas';

const owned = { limiter: 'closed', governor: 'open', owns: 'thread' } as const;

export const getAll = sessionRoute(owned, {
  method: 'get',
  path: '/threads/{thread_id}/db',
  operationId: 'getThreadDb',
  summary: "The thread's virtual database, all keys",
  request: { params: ThreadParams },
  responses: {
    200: jsonContent(z.record(z.string(), JsonValueSchema), 'All keys'),
    ...errorResponses(400, 404),
  },
});

export const getKey = sessionRoute(owned, {
  method: 'get',
  path: '/threads/{thread_id}/db/{key}',
  operationId: 'getThreadDbKey',
  summary: 'One key; 404 if absent',
  request: { params: DbKeyParams },
  responses: { 200: jsonContent(JsonValueSchema, 'The value'), ...errorResponses(400, 404) },
});

const PutBody = z.object({ value: JsonValueSchema }).strict().openapi('DbPut');

export const putKey = sessionRoute(
  owned,
  {
    method: 'put',
    path: '/threads/{thread_id}/db/{key}',
    operationId: 'putThreadDbKey',
    summary: 'Set one key (value at most 64 KiB)',
    request: { params: DbKeyParams, body: jsonBody(PutBody) },
    responses: {
      200: jsonContent(z.object({ key: z.string(), value: JsonValueSchema }), 'Stored'),
      ...errorResponses(400, 404, 413),
    },
  },
  limitBody(MAX_DB_VALUE_BYTES + 1024, 'value is over 64 KiB.', 'value'),
);
