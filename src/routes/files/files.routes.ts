import { z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { sessionRoute } from '../define';
import { NextCursor, PageQuery } from '../pagination';
import { errorResponses, FileParams, FileSchema, jsonContent } from '../schemas';

/** Room for the multipart framing around the file itself. */
const MULTIPART_OVERHEAD = 16 * 1024;

/**
 * Caps the upload at the tenant's `files.max_bytes` while it streams in: the body is
 * counted chunk by chunk and refused with 413 the moment it is over, never read whole.
 */
const tenantUploadLimit = createMiddleware<AppEnv>(async function tenantUploadLimit(c, next) {
  const maxBytes = c.var.tenant.files.max_bytes;
  const limit = bodyLimit({
    maxSize: maxBytes + MULTIPART_OVERHEAD,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', `The upload is over this tenant's limit of ${maxBytes} bytes.`);
    },
  });
  return limit(c, next);
});

const UploadForm = z
  .object({
    file: z
      .custom<File>((value) => value instanceof File, 'must be a file')
      .openapi({ type: 'string', format: 'binary' }),
  })
  .strict();

export const upload = sessionRoute(
  { limiter: 'closed', governor: 'closed', reserve: 'file' },
  {
    method: 'post',
    path: '/files',
    summary: "Upload a file (multipart `file`; the tenant's size and type limits and `files_per_user` apply)",
    request: { body: { content: { 'multipart/form-data': { schema: UploadForm } }, required: true } },
    responses: { 201: jsonContent(FileSchema, 'The uploaded file'), ...errorResponses(400, 413) },
  },
  tenantUploadLimit,
);

export const list = sessionRoute(
  { limiter: 'closed', governor: 'none', want: 'files' },
  {
    method: 'get',
    path: '/files',
    summary: "The caller's own files, newest first, a page at a time (`limit`, `cursor`)",
    request: { query: PageQuery },
    responses: {
      200: jsonContent(
        z.object({ files: z.array(FileSchema), next_cursor: NextCursor }).openapi('FilesPage'),
        'Files',
      ),
      ...errorResponses(400),
    },
  },
);

export const remove = sessionRoute(
  { limiter: 'closed', governor: 'open', owns: 'file' },
  {
    method: 'delete',
    path: '/files/{file_id}',
    summary: 'Delete a file',
    request: { params: FileParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 404) },
  },
);
