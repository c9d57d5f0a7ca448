import { requestContext } from '../../services/context';
import { runToEnd, startRun } from '../../services/run';
import { SSE_HEADERS } from '../../stream/sse';
import { admitted } from '../define';
import * as routes from './run.routes';

/** `POST /v1/threads/{thread_id}/run`: the run stream relay, or its result as one JSON body. */
export const run = admitted(routes.run, async (c, grant) => {
  const ctx = requestContext(c);
  const { message, stream } = c.req.valid('json');
  const threadId = c.req.valid('param').thread_id;
  if (!stream) return c.json(await runToEnd(ctx, grant.lease, threadId, message), 200);
  const events = await startRun(ctx, grant.lease, threadId, message, { pingMs: ctx.config.stream.pingMs });
  return c.body(events, 200, SSE_HEADERS);
});
