import * as db from '../../services/db';
import { requestContext } from '../context';
import { admitted } from '../define';
import * as routes from './db.routes';

export const getAll = admitted(routes.getAll, async (c) =>
  c.json(await db.getAll(requestContext(c), c.req.valid('param').thread_id), 200),
);

export const getKey = admitted(routes.getKey, async (c) => {
  const { thread_id, key } = c.req.valid('param');
  return c.json(await db.getKey(requestContext(c), thread_id, key), 200);
});

export const putKey = admitted(routes.putKey, async (c) => {
  const { thread_id, key } = c.req.valid('param');
  return c.json(await db.putKey(requestContext(c), thread_id, key, c.req.valid('json').value), 200);
});
