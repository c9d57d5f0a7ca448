import { ApiError } from '../../errors';
import { validationError } from '../../middleware/validate';
import { parseEventId } from '../../runs/schema';
import * as runs from '../../services/run';
import { SSE_HEADERS } from '../../stream/sse';
import { requestContext } from '../context';
import { admitted } from '../define';
import * as routes from './run.routes';

/** `POST /v1/threads/{thread_id}/run`: a run, streamed, or its result as one JSON body. */
export const run = admitted(routes.run, async (c, grant) => {
  const ctx = requestContext(c);
  const { message, stream } = c.req.valid('json');
  const headers = runHeaders(c.req.header('idempotency-key'), c.req.header('last-event-id'));
  const request: runs.RunRequest = {
    threadId: c.req.valid('param').thread_id,
    message,
    idempotencyKey: headers['idempotency-key'],
    resume: parseEventId(headers['last-event-id']),
    detachCancels: true,
  };
  if (!stream) return c.json(await runs.runToEnd(ctx, grant.lease, request), 200);
  const started = await runs.startRun(ctx, grant.lease, request, ctx.config.stream.pingMs);
  return c.body(started.frames, 200, {
    ...SSE_HEADERS,
    'X-Run-Id': started.runId,
    Location: `/v1/threads/${request.threadId}/runs/${started.runId}`,
  });
});

export const listRuns = admitted(routes.listRuns, async (c) => {
  const list = await runs.listRuns(requestContext(c), c.req.valid('param').thread_id);
  return c.json(
    {
      runs: list.map(({ run_id, status, created_at, ended_at }) => ({
        run_id,
        status,
        created_at,
        ...(ended_at ? { ended_at } : {}),
      })),
    },
    200,
  );
});

export const getRun = admitted(routes.getRun, async (c) => {
  const { thread_id, run_id } = c.req.valid('param');
  return c.json(await runs.getRun(requestContext(c), thread_id, run_id), 200);
});

/** Resume: `Last-Event-ID` (of this run) or `?after=<n>`; neither replays from the start. */
export const runEvents = admitted(routes.runEvents, async (c) => {
  const { thread_id, run_id } = c.req.valid('param');
  const header = runHeaders(undefined, c.req.header('last-event-id'))['last-event-id'];
  const resume = parseEventId(header);
  if (header !== undefined && resume?.runId !== run_id) {
    throw new ApiError('VALIDATION_ERROR', 'Last-Event-ID: not an event of this run.', {
      field: 'Last-Event-ID',
    });
  }
  const after = resume?.after ?? c.req.valid('query').after ?? 0;
  const ctx = requestContext(c);
  return c.body(await runs.runFrames(ctx, thread_id, run_id, after), 200, SSE_HEADERS);
});

export const cancelRun = admitted(routes.cancelRun, async (c) => {
  const { thread_id, run_id } = c.req.valid('param');
  const cancelled = await runs.cancelRun(requestContext(c), thread_id, run_id);
  return c.json({ run_id: cancelled.run_id, status: cancelled.status }, 202);
});

/** The run headers, validated like any other input (400 naming the header). */
function runHeaders(idempotencyKey: string | undefined, lastEventId: string | undefined) {
  const parsed = routes.RunHeaders.safeParse({
    'idempotency-key': idempotencyKey,
    'last-event-id': lastEventId,
  });
  if (!parsed.success) throw validationError(parsed.error.issues[0]);
  return parsed.data;
}
