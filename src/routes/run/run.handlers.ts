import { ApiError } from '../../errors';
import { validationError } from '../../middleware/validate';
import { type NamedRun, parseEventId } from '../../runs/schema';
import * as runs from '../../services/run';
import { type RunResult, SSE_HEADERS } from '../../stream/sse';
import { requestContext } from '../context';
import { type AppRouteHandler, admitted, admittedWith } from '../define';
import * as routes from './run.routes';

type RunContext = Parameters<AppRouteHandler<typeof routes.run.route>>[0];

/**
 * `POST /v1/threads/{thread_id}/run`: a run, streamed, or its result as one JSON body. A
 * retry (its `Idempotency-Key` or re-posted `Last-Event-ID` names a retained run of the
 * caller's on this thread) attaches to that run, admitted like a resume: no stream slot,
 * no budget. Anything else is admitted as a new run.
 */
export const run = async (c: RunContext) => {
  const request = runRequest(c);
  const ctx = requestContext(c);
  const named = await runs.namedRun(ctx, request);
  if (named) return attachTo(c, request, named);
  try {
    return await startNew(c, request);
  } catch (error) {
    // Refused, most likely before its start (a start ends its own claim): a twin of its key waits no more.
    runs.releaseClaim(ctx, request);
    throw await runs.refusalOf(ctx, request.threadId, error);
  }
};

/** A new run, its `Idempotency-Key` bound to this thread by its admission (another thread's is a 409). */
const startNew = (c: RunContext, request: runs.RunRequest) =>
  admittedWith(
    routes.run,
    () => ({ input: undefined, idempotencyKey: request.idempotencyKey }),
    async (c, grant) => {
      const ctx = requestContext(c);
      const { pingMs } = ctx.config.stream;
      const stream = c.req.valid('json').stream;
      const run = await runs.startRun(ctx, grant.lease, request, stream ? pingMs : 0);
      return stream ? respond(c, request, run) : result(c, request, run);
    },
  )(c);

const attachTo = (c: RunContext, request: runs.RunRequest, named: NamedRun) =>
  admitted(routes.runRetry, async (c) => {
    const ctx = requestContext(c);
    // A result is the whole run's, whichever event a re-posted Last-Event-ID names.
    if (!c.req.valid('json').stream)
      return result(c, request, await runs.attachWhole(ctx, request.threadId, named));
    const run = await runs.attachNamed(ctx, request.threadId, named, ctx.config.stream.pingMs);
    return run ? respond(c, request, run) : c.body(null, 204);
  })(c);

/** The run's SSE stream, the run named in `X-Run-Id` and `Location`. */
function respond(c: RunContext, request: runs.RunRequest, run: runs.RunStream) {
  return c.body(run.frames, 200, { ...SSE_HEADERS, ...named(request.threadId, run.runId) });
}

/**
 * `"stream": false`: the run read to its end. Its result, or the error it ended with,
 * names the run as a stream's answer does: a failed run exists, and may be read or resumed.
 */
async function result(c: RunContext, request: runs.RunRequest, run: runs.RunStream) {
  const headers = named(request.threadId, run.runId);
  let body: RunResult;
  try {
    body = await runs.resultOf(requestContext(c), request.threadId, run);
  } catch (error) {
    throw error instanceof ApiError ? error.withHeaders(headers) : error;
  }
  return c.json(body, 200, headers);
}

const named = (threadId: string, runId: string) => ({
  'X-Run-Id': runId,
  Location: `/v1/threads/${threadId}/runs/${runId}`,
});

/** The run request of a `POST .../run`: its message, and what makes it a retry (validated headers). */
function runRequest(c: RunContext): runs.RunRequest {
  const headers = runHeaders(c.req.header('idempotency-key'), c.req.header('last-event-id'));
  return {
    threadId: c.req.valid('param').thread_id,
    message: c.req.valid('json').message,
    idempotencyKey: headers['idempotency-key'],
    resume: parseEventId(headers['last-event-id']),
    detachCancels: true,
    // Twins of its key wait for its run, not beside it (see runs.namedRun).
    ...(headers['idempotency-key'] === undefined ? {} : { claim: crypto.randomUUID() }),
  };
}

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
  const frames = await runs.runFrames(requestContext(c), thread_id, run_id, after);
  return frames ? c.body(frames, 200, SSE_HEADERS) : c.body(null, 204);
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
