import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { formBoundary } from '../../multipart/headers';
import { MAX_HEAD_BYTES } from '../../multipart/read';
import { sessionRoute } from '../define';
import { NextCursor, PageQuery } from '../pagination';
import { errorResponses, FileParams, FileSchema, jsonContent } from '../schemas';

/**
 * The upload's body gate, before a byte of it is read: a body that is not
 * `multipart/form-data` is 415 (so no other reader, such as a JSON depth check, takes it
 * in), and one whose declared `Content-Length` cannot fit the tenant's `files.max_bytes`
 * (with room for the multipart framing) is 413. It never reads or wraps the body: the
 * upload streams, and its reader (services/files.ts) counts the file as it goes, declared
 * length or not.
 */
const uploadBodyGate = createMiddleware<AppEnv>(async function uploadBodyGate(c, next) {
  if (formBoundary(c.req.header('content-type')) === undefined) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Uploads are multipart/form-data.');
  }
  const maxBytes = c.get('tenant').files.max_bytes;
  const declared = Number(c.req.header('content-length') ?? Number.NaN);
  if (!c.req.header('transfer-encoding') && declared > maxBytes + MAX_HEAD_BYTES) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `The upload is over this tenant's limit of ${maxBytes} bytes.`);
  }
  await next();
});

/**
 * The upload body as documented: an OpenAPI schema, not a zod one. With a zod schema the
 * framework would validate the body itself, which means `formData()`: the whole file in
 * the isolate's memory, then copied again for the upstream. The handler streams it
 * instead, with the same checks (services/files.ts).
 */
const UPLOAD_BODY = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object' as const,
        properties: {
          file: {
            type: 'string' as const,
            format: 'binary',
            description: "The file: one of the tenant's `files.types`, at most `files.max_bytes`.",
          },
        },
        required: ['file'],
        additionalProperties: false,
      },
    },
  },
};

/** What the typed client sends to `POST /v1/files` (the route's body is not a zod schema, above). */
export interface UploadInput {
  in: { form: { file: File | Blob } };
  out: { form: { file: File } };
}

export const upload = sessionRoute(
  { limiter: 'closed', governor: 'closed', reserve: 'file' },
  {
    method: 'post',
    path: '/files',
    operationId: 'uploadFile',
    summary:
      "Upload a file (multipart `file`, streamed to the upstream; the tenant's size and type limits " +
      'and `files_per_user` apply)',
    request: { body: UPLOAD_BODY },
    responses: { 201: jsonContent(FileSchema, 'The uploaded file'), ...errorResponses(400, 413, 415) },
  },
  uploadBodyGate,
);

export const list = sessionRoute(
  { limiter: 'closed', governor: 'none', want: 'files' },
  {
    method: 'get',
    path: '/files',
    operationId: 'listFiles',
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
    operationId: 'deleteFile',
    summary: 'Delete a file',
    request: { params: FileParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 404) },
  },
);
