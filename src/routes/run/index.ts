import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../../errors';
import { admission } from '../../middleware/admission';
import { gateway } from '../../services/gateway';
import { startRun } from '../../services/run';
import { collectRun, SSE_HEADERS } from '../../stream/sse';
import { createRouter } from '../router';
import { errorResponses, JsonValueSchema, jsonBody, ThreadParams } from '../schemas';

const RunBody = z
  .object({
    message: z.string().min(1).max(32_000),
    stream: z.boolean().default(true),
  })
  .strict()
  .openapi('RunRequest');

const RunResultSchema = z
  .object({
    run_id: z.string(),
    content: z.string(),
    tool_calls: z.array(z.object({ name: z.string(), args: JsonValueSchema.optional() })),
  })
  .openapi('RunResult');

const run = createRoute({
  method: 'post',
  path: '/threads/{thread_id}/run',
  operationId: 'runThread',
  summary: 'Run the assistant on a message: an SSE stream, or one JSON result with `"stream": false`',
  description:
    'Streaming: `text/event-stream` of `id`/`event`/`data` frames with `event` one of `start`, `content`, ' +
    '`tool_call` (cut to the tenant’s `tool_calls` policy), `done`, `error` (`{"code","detail"}`); a ' +
    '`: ping` comment after 15 s without an event. Every stream ends with `done` or `error`.',
  middleware: [
    admission({ owns: { kind: 'thread', param: 'thread_id' }, lease: true, costly: true }),
  ] as const,
  request: { params: ThreadParams, body: jsonBody(RunBody) },
  responses: {
    200: {
      description: 'The run’s events (stream) or its result (`"stream": false`)',
      content: {
        'text/event-stream': { schema: z.string() },
        'application/json': { schema: RunResultSchema },
      },
    },
    ...errorResponses(400, 404, 413),
  },
});

/** `POST /v1/threads/{thread_id}/run`: the run stream relay. */
export const runRoutes = createRouter().openapi(run, async (c) => {
  const gw = gateway(c);
  const { message, stream } = c.req.valid('json');
  const threadId = c.req.valid('param').thread_id;
  if (stream) {
    return c.body(
      await startRun(gw, threadId, message, { pingMs: gw.config.stream.pingMs }),
      200,
      SSE_HEADERS,
    );
  }
  const outcome = await collectRun(await startRun(gw, threadId, message));
  if (!outcome.ok) {
    const status =
      outcome.error.code === 'UPSTREAM_TIMEOUT' || outcome.error.code === 'STREAM_TOO_LONG' ? 504 : 502;
    throw new ApiError(
      status,
      status === 504 ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_BAD_RESPONSE',
      outcome.error.detail,
    );
  }
  return c.json(outcome.result, 200);
});
