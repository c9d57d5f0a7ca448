import { ApiError } from '../errors';
import { meter } from '../metering/usage';
import { type FilePart, readFilePart } from '../multipart/read';
import { multipartStream } from '../multipart/write';
import type { FileRecord } from '../objects/tenant-state';
import { UpstreamFileSchema } from '../upstream/schemas';
import type { Hold } from './admission';
import { projectScope, type RequestContext } from './context';

/** A declared length may leave room for this much epilogue after the closing boundary: a CRLF. */
const EPILOGUE_ALLOWANCE = 2;

/** An upload whose head was read and checked; its content has not been read yet. */
export interface IncomingUpload {
  /** Made safe ({@link safeFilename}). */
  filename: string;
  /** One of the tenant's `files.types`. */
  type: string;
  part: FilePart;
}

/**
 * Reads an upload's head (the multipart framing and the `file` part's headers, a few KiB)
 * and checks it against the tenant's limits, before admission: a body that declares more
 * than `files.max_bytes`, a type the tenant does not allow, a part that is not the file,
 * are refused here and cost nothing but the caller's rate. The content stays unread.
 */
export async function readUpload(
  ctx: Pick<RequestContext, 'tenant'>,
  request: Request,
): Promise<IncomingUpload> {
  const { max_bytes: maxBytes, types } = ctx.tenant.files;
  const length = request.headers.has('transfer-encoding') ? undefined : request.headers.get('content-length');
  const part = await readFilePart(
    {
      body: request.body,
      contentType: request.headers.get('content-type') ?? undefined,
      contentLength: length ? Number(length) : undefined,
    },
    'file',
  );
  try {
    if (part.room !== undefined && part.room > maxBytes + EPILOGUE_ALLOWANCE) throw tooLarge(maxBytes);
    const type = part.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!types.includes(type)) {
      throw new ApiError('VALIDATION_ERROR', `file: type must be one of ${types.join(', ')}.`, {
        field: 'file',
      });
    }
    return { filename: safeFilename(part.filename), type, part };
  } catch (error) {
    await part.cancel();
    throw error;
  }
}

/**
 * Uploads the file for the caller, streaming it: its bytes go to the upstream as they
 * arrive, never held whole (an isolate has 128 MB; `files.max_bytes` may be 100 MiB). The
 * size is counted on the way: a file over `files.max_bytes` (possible when no length was
 * declared) or a body that turns out malformed aborts the upstream request before its
 * body is complete, so the upstream stores nothing, and the caller gets the 413 or 400.
 * `hold` (one of the user's `files_per_user`) is claimed when the file is recorded; on any
 * failure it is left for admission to give back.
 */
export async function uploadFile(
  ctx: RequestContext,
  hold: Hold,
  upload: IncomingUpload,
): Promise<FileRecord> {
  // One signal stops the upstream call: the caller leaving, or the body failing as it streams.
  const cut = new AbortController();
  const callerGone = () => cut.abort(ctx.signal.reason);
  if (ctx.signal.aborted) callerGone();
  ctx.signal.addEventListener('abort', callerGone, { once: true });
  const content = upload.part.content(ctx.tenant.files.max_bytes, (error) => cut.abort(error));
  const body = multipartStream(
    { purpose: 'assistants' },
    { name: 'file', filename: upload.filename, type: upload.type, content: content.stream },
  );
  try {
    const uploaded = await ctx.upstream.json(
      {
        method: 'POST',
        path: ['files'],
        trailingSlash: true,
        stream: body,
        scope: projectScope(ctx),
        signal: cut.signal,
        // The body may take its whole deadline to arrive; the upstream then has its usual time.
        timeoutMs: ctx.config.bodyTimeoutMs + ctx.config.upstream.timeoutMs,
      },
      UpstreamFileSchema,
    );
    const record: FileRecord = {
      file_id: uploaded.file_id,
      filename: upload.filename,
      size: content.size(),
      mime_type: upload.type,
      uploaded_at: uploaded.uploaded_at ?? new Date().toISOString(),
    };
    await ctx.state.commitFile(ctx.user, hold.claim(), record);
    meter(ctx, { upload_bytes: record.size });
    return record;
  } finally {
    ctx.signal.removeEventListener('abort', callerGone);
  }
}

export async function deleteFile(ctx: RequestContext, fileId: string): Promise<void> {
  try {
    await ctx.upstream.send({ method: 'DELETE', path: ['files', fileId], scope: projectScope(ctx) });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  await ctx.state.removeFile(ctx.user, fileId);
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', `file is over the limit of ${maxBytes} bytes.`, {
    field: 'file',
  });
}

/**
 * Characters a file name never keeps: controls (Cc, C0 and C1), format characters (Cf:
 * bidi overrides and isolates, zero-width characters, the BOM), which are invisible or
 * reorder what a listing shows (`invoice\u202Efdp.exe` reads as `invoiceexe.pdf`), and
 * line and paragraph separators (Zl, Zp), which break a log line or a header.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** A file name without paths, quotes or invisible characters, at most 200 characters. */
function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = [...base.replace(INVISIBLE, '').replaceAll('"', '').trim()].slice(0, 200).join('');
  return cleaned.trim() || 'upload';
}
