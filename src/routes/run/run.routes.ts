import { z } from '@hono/zod-openapi';
import { RunResultSchema } from '../../stream/sse';
import { sessionRoute } from '../define';
import { ApiIdSchema, errorResponses, jsonBody, jsonContent, ThreadParams } from '../schemas';

const RunBody = z
  .object({
    message: z.string().min(1).max(32_000),
    stream: z.boolean().default(true),
  })
  .strict()
  .openapi('RunRequest');

/**
 * The run route's optional headers. Read by the handler (`runHeaders`), documented as
 * parameters here: declared as a request schema they would be required of every typed
 * client call.
 */
export const RunHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters')
    .optional(),
  'last-event-id': z.string().max(200).optional(),
});

const headerParameters = [
  {
    name: 'Idempotency-Key',
    in: 'header' as const,
    required: false,
    description:
      'The same key by the same user within 24 h attaches to the run it started (1-255 visible ASCII); ' +
      'with another message or on another of the user’s threads it is `409 IDEMPOTENCY_CONFLICT`',
    schema: { type: 'string' as const, maxLength: 255 },
  },
  {
    name: 'Last-Event-ID',
    in: 'header' as const,
    required: false,
    description: 'A `<run_id>:<n>` of this thread: attach to that run after event n instead of starting one',
    schema: { type: 'string' as const, maxLength: 200 },
  },
];

const RunStatusSchema = z.enum(['running', 'done', 'error', 'cancelled']);
const RunSchema = z
  .object({
    run_id: z.string(),
    thread_id: z.string(),
    status: RunStatusSchema,
    created_at: z.string(),
    ended_at: z.string().optional(),
    error: z.object({ code: z.string(), detail: z.string() }).optional(),
  })
  .openapi('Run');

const RunParams = ThreadParams.extend({
  run_id: ApiIdSchema.openapi({ param: { name: 'run_id', in: 'path' }, example: 'run_abc123' }),
});

const EVENTS_DESCRIPTION =
  '`text/event-stream` of `id: <run_id>:<n>` / `event` / `data` frames with `event` one of `start`, ' +
  '`content`, `tool_call` (cut to the tenant’s `tool_calls` policy), `done`, `error` (`{"code","detail"}`); ' +
  'a `: ping` comment after 15 s without an event. Every stream ends with `done` or `error`.';

/** A run costs the operator money: no governor permit, no run. */
const owned = { limiter: 'closed', governor: 'none', owns: 'thread' } as const;

export const run = sessionRoute(
  { limiter: 'closed', governor: 'closed', owns: 'thread', stream: true },
  {
    method: 'post',
    path: '/threads/{thread_id}/run',
    operationId: 'runThread',
    summary: 'Start a run (an SSE stream, or one JSON result with `"stream": false`)',
    description:
      `${EVENTS_DESCRIPTION} The run outlives the connection: \`X-Run-Id\` and \`Location\` name it, ` +
      'and `GET .../runs/{run_id}/events` resumes it. One run at a time per thread (`409 RUN_IN_PROGRESS`).',
    parameters: headerParameters,
    request: { params: ThreadParams, body: jsonBody(RunBody) },
    responses: {
      200: {
        description: 'The run’s events (stream) or its result (`"stream": false`)',
        content: {
          'text/event-stream': { schema: z.string() },
          'application/json': { schema: RunResultSchema.openapi('RunResult') },
        },
      },
      204: {
        description: 'A streamed retry whose `Last-Event-ID` is at or past the end of its finished run',
      },
      ...errorResponses(400, 404, 409, 410, 413),
    },
  },
);

/** A run request that names a retained run (a retry): admitted like a resume, no slot, no budget. */
export const runRetry = { route: run.route, admission: owned };

export const listRuns = sessionRoute(owned, {
  method: 'get',
  path: '/threads/{thread_id}/runs',
  operationId: 'listRuns',
  summary: 'The thread’s retained runs, newest first',
  request: { params: ThreadParams },
  responses: {
    200: jsonContent(z.object({ runs: z.array(RunSchema.omit({ thread_id: true, error: true })) }), 'Runs'),
    ...errorResponses(400, 404),
  },
});

export const getRun = sessionRoute(owned, {
  method: 'get',
  path: '/threads/{thread_id}/runs/{run_id}',
  operationId: 'getRun',
  summary: 'One run’s status',
  request: { params: RunParams },
  responses: { 200: jsonContent(RunSchema, 'The run'), ...errorResponses(400, 404) },
});

const EventsQuery = z.object({ after: z.coerce.number().int().min(0).max(1e9).optional() }).strict();

export const runEvents = sessionRoute(owned, {
  method: 'get',
  path: '/threads/{thread_id}/runs/{run_id}/events',
  operationId: 'getRunEvents',
  summary: 'A run’s events: replayed after `Last-Event-ID` (or `?after=<n>`), then live to its end',
  description: EVENTS_DESCRIPTION,
  parameters: headerParameters.slice(1),
  request: { params: RunParams, query: EventsQuery },
  responses: {
    200: { description: 'The run’s events', content: { 'text/event-stream': { schema: z.string() } } },
    204: {
      description: 'The run ended at or before the resume point: nothing after it (an EventSource stops)',
    },
    ...errorResponses(400, 404, 410),
  },
});

export const cancelRun = sessionRoute(owned, {
  method: 'post',
  path: '/threads/{thread_id}/runs/{run_id}/cancel',
  operationId: 'cancelRun',
  summary: 'Cancel a run: the upstream stops within a second, attached streams end with RUN_CANCELLED',
  request: { params: RunParams },
  responses: {
    202: jsonContent(
      z.object({ run_id: z.string(), status: RunStatusSchema }),
      'Cancelled (or already ended)',
    ),
    ...errorResponses(400, 404),
  },
});
