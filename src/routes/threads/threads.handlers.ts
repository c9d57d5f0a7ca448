import type { RouteHandler } from '@hono/zod-openapi';
import type { AppEnv } from '../../env';
import { gateway } from '../../services/gateway';
import * as threads from '../../services/threads';
import type * as routes from './threads.routes';

export const createThread: RouteHandler<typeof routes.createThread, AppEnv> = async (c) =>
  c.json(await threads.createThread(gateway(c), c.req.valid('json')), 201);

export const listThreads: RouteHandler<typeof routes.listThreads, AppEnv> = async (c) =>
  c.json({ threads: threads.listThreads(gateway(c)) }, 200);

export const getThread: RouteHandler<typeof routes.getThread, AppEnv> = async (c) =>
  c.json(await threads.getThread(gateway(c), c.req.valid('param').thread_id), 200);

export const deleteThread: RouteHandler<typeof routes.deleteThread, AppEnv> = async (c) => {
  await threads.deleteThread(gateway(c), c.req.valid('param').thread_id);
  return c.body(null, 204);
};

export const listMessages: RouteHandler<typeof routes.listMessages, AppEnv> = async (c) =>
  c.json(await threads.listMessages(gateway(c), c.req.valid('param').thread_id, c.req.valid('query')), 200);

export const postMessage: RouteHandler<typeof routes.postMessage, AppEnv> = async (c) =>
  c.json(
    await threads.postMessage(gateway(c), c.req.valid('param').thread_id, c.req.valid('json').content),
    201,
  );
