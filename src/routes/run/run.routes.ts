import { z } from '@hono/zod-openapi';
import { RunResultSchema } from '../../stream/sse';
import { sessionRoute } from '../define';
import { errorResponses, jsonBody, ThreadParams } from '../schemas';

const RunBody = z
  .object({
    message: z.string().min(1).max(32_000),
    stream: z.boolean().default(true),
  })
  .strict()
  .openapi('RunRequest');

/** A run costs the operator money: no governor permit, no run. */
export const run = sessionRoute(
  { limiter: 'closed', governor: 'closed', owns: 'thread', stream: true },
  {
    method: 'post',
    path: '/threads/{thread_id}/run',
    summary: 'Run the assistant on a message: an SSE stream, or one JSON result with `"stream": false`',
    description:
      'Streaming: `text/event-stream` of `id`/`event`/`data` frames with `event` one of `start`, `content`, ' +
      '`tool_call` (cut to the tenant’s `tool_calls` policy), `done`, `error` (`{"code","detail"}`); a ' +
      '`: ping` comment after 15 s without an event. Every stream ends with `done` or `error`.',
    request: { params: ThreadParams, body: jsonBody(RunBody) },
    responses: {
      200: {
        description: 'The run’s events (stream) or its result (`"stream": false`)',
        content: {
          'text/event-stream': { schema: z.string() },
          'application/json': { schema: RunResultSchema.openapi('RunResult') },
        },
      },
      ...errorResponses(400, 404, 413),
    },
  },
);
