import type { Hono } from 'hono';
import type { Ctx, EmuEnv } from './http';
import {
  errorJson,
  listJson,
  notFound,
  rawJson,
  requireProject,
  unauthorized,
  validationError,
} from './http';
import { fileView, nextId, nowIso } from './state';
import type { FileRecord, Thread } from './types';

export const FILE_PURPOSES = ['assistants', 'retrieval'];

function isFile(v: unknown): v is File {
  return typeof v === 'object' && v !== null && 'arrayBuffer' in v && typeof v.arrayBuffer === 'function';
}

async function upload(c: Ctx): Promise<Response> {
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch {
    return validationError(c, 'file', "A multipart/form-data body with a 'file' part is required");
  }
  const file = form.get('file');
  if (!isFile(file)) return validationError(c, 'file', "Field 'file' is required");
  const purpose = form.get('purpose');
  if (typeof purpose !== 'string' || !FILE_PURPOSES.includes(purpose)) {
    return validationError(c, 'purpose', `Field 'purpose' must be one of ${FILE_PURPOSES.join(', ')}`);
  }
  const record: FileRecord = {
    file_id: nextId(c.var.u, 'file'),
    filename: file.name || 'upload.bin',
    size: (await file.arrayBuffer()).byteLength,
    mime_type: file.type || 'application/octet-stream',
    purpose,
    uploaded_at: nowIso(),
  };
  c.var.project.files.set(record.file_id, record);
  return c.json(fileView(record), 201);
}

/** The thread of a `/db/{project_id}/{thread_id}` path; another project's token is 401. */
function dbThread(c: Ctx): Thread | Response {
  if (c.req.param('project_id') !== c.var.project.project_id) return unauthorized(c);
  const thread = c.var.project.threads.get(c.req.param('thread_id') ?? '');
  return thread ?? notFound(c, `Thread ${c.req.param('thread_id')} not found`);
}

export function registerFileAndDbRoutes(app: Hono<EmuEnv>): void {
  app.get('/files', requireProject, (c) =>
    listJson(c, 'files', [...c.var.project.files.values()].map(fileView)),
  );

  app.post('/files', requireProject, upload);

  app.delete('/files/:file_id', requireProject, (c) => {
    const deleted = c.var.project.files.delete(c.req.param('file_id'));
    return deleted ? c.body(null, 204) : notFound(c, `File ${c.req.param('file_id')} not found`);
  });

  app.get('/db/:project_id/:thread_id', requireProject, (c) => {
    const thread = dbThread(c);
    return thread instanceof Response ? thread : rawJson(thread.db);
  });

  app.get('/db/:project_id/:thread_id/:key', requireProject, (c) => {
    const thread = dbThread(c);
    if (thread instanceof Response) return thread;
    const key = c.req.param('key');
    if (!Object.hasOwn(thread.db, key)) return notFound(c, `Key '${key}' not found`);
    return rawJson(thread.db[key]);
  });

  app.put('/db/:project_id/:thread_id/:key', requireProject, async (c) => {
    const thread = dbThread(c);
    if (thread instanceof Response) return thread;
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return errorJson(c, 400, 'Bad Request', 'Request body must be valid JSON');
    }
    // `in` narrows the type; `hasOwn` keeps an inherited `value` from counting.
    if (typeof body !== 'object' || body === null || !('value' in body) || !Object.hasOwn(body, 'value')) {
      return validationError(c, 'value', "Field 'value' is required");
    }
    const key = c.req.param('key');
    const { value } = body;
    thread.db[key] = value;
    return rawJson({ success: true, key, value });
  });
}
