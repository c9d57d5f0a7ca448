import * as files from '../../services/files';
import { requestContext } from '../context';
import { admitted } from '../define';
import * as routes from './files.routes';

export const upload = admitted(routes.upload, async (c) =>
  c.json(await files.uploadFile(requestContext(c), c.req.valid('form').file), 201),
);

/** The caller's own files, from the ownership registry (no upstream call). */
export const list = admitted(routes.list, async (c, grant) => c.json({ files: grant.files }, 200));

export const remove = admitted(routes.remove, async (c) => {
  await files.deleteFile(requestContext(c), c.req.valid('param').file_id);
  return c.body(null, 204);
});
