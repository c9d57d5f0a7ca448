import * as threads from '../../services/threads';
import { requestContext } from '../context';
import { admitted, admittedWith } from '../define';
import { nextCursor, pageOf } from '../pagination';
import * as routes from './threads.routes';

/** `POST /v1/threads`: the assistant is checked before admission reserves a thread of quota. */
export const createThread = admittedWith(
  routes.createThread,
  (c) => {
    threads.assistantOf(requestContext(c), c.req.valid('json').assistant_id);
    return { input: undefined };
  },
  async (c, grant) =>
    c.json(await threads.createThread(requestContext(c), grant.reservation, c.req.valid('json')), 201),
);

/** A page of the caller's own threads, from the ownership registry (no upstream call). */
export const listThreads = admittedWith(
  routes.listThreads,
  (c) => ({ page: pageOf(c.req.valid('query')), input: undefined }),
  async (c, grant) => c.json({ threads: grant.threads.items, ...nextCursor(grant.threads) }, 200),
);

export const getThread = admitted(routes.getThread, async (c) =>
  c.json(await threads.getThread(requestContext(c), c.req.valid('param').thread_id), 200),
);

export const deleteThread = admitted(routes.deleteThread, async (c) => {
  await threads.deleteThread(requestContext(c), c.req.valid('param').thread_id);
  return c.body(null, 204);
});

export const listMessages = admitted(routes.listMessages, async (c) =>
  c.json(
    await threads.listMessages(requestContext(c), c.req.valid('param').thread_id, c.req.valid('query')),
    200,
  ),
);

export const postMessage = admitted(routes.postMessage, async (c) =>
  c.json(
    await threads.postMessage(requestContext(c), c.req.valid('param').thread_id, c.req.valid('json').content),
    201,
  ),
);
