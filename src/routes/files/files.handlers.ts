import * as files from '../../services/files';
import { requestContext } from '../context';
import { admitted, admittedWith } from '../define';
import { nextCursor, pageOf } from '../pagination';
import * as routes from './files.routes';

/** The upload's head is read and checked before admission; its content streams after it. */
export const upload = admittedWith(
  routes.upload,
  async (c) => ({ input: await files.readUpload(requestContext(c), c.req.raw) }),
  async (c, grant, incoming) =>
    c.json(await files.uploadFile(requestContext(c), grant.upload, incoming), 201),
);

/** A page of the caller's own files, from the ownership registry (no upstream call). */
export const list = admittedWith(
  routes.list,
  (c) => ({ page: pageOf(c.req.valid('query')), input: undefined }),
  async (c, grant) => c.json({ files: grant.files.items, ...nextCursor(grant.files) }, 200),
);

export const remove = admitted(routes.remove, async (c) => {
  await files.deleteFile(requestContext(c), c.req.valid('param').file_id);
  return c.body(null, 204);
});
