import { ApiError } from '../errors';
import type { FileRecord } from '../objects/tenant-state';
import { UpstreamFileSchema } from '../upstream/schemas';
import { projectScope, type RequestContext } from './context';

/**
 * Uploads one file for the caller. The body was size-capped while it streamed in
 * (route middleware); here the part itself is checked against the tenant's size and
 * type limits before anything goes upstream.
 */
export async function uploadFile(ctx: RequestContext, file: File): Promise<FileRecord> {
  const { max_bytes: maxBytes, types } = ctx.tenant.files;
  if (file.size > maxBytes) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `file is over this tenant's limit of ${maxBytes} bytes.`, {
      field: 'file',
    });
  }
  const type = file.type.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!types.includes(type)) {
    throw new ApiError('VALIDATION_ERROR', `file: type must be one of ${types.join(', ')}.`, {
      field: 'file',
    });
  }
  const filename = safeFilename(file.name);
  const form = new FormData();
  form.append('file', new File([file], filename, { type }));
  form.append('purpose', 'assistants');
  const uploaded = await ctx.upstream.json(
    { method: 'POST', path: ['files'], trailingSlash: true, form, scope: projectScope(ctx) },
    UpstreamFileSchema,
  );
  const record: FileRecord = {
    file_id: uploaded.file_id,
    filename,
    size: file.size,
    mime_type: type,
    uploaded_at: uploaded.uploaded_at ?? new Date().toISOString(),
  };
  await ctx.state.recordFile(ctx.user, record);
  return record;
}

export async function deleteFile(ctx: RequestContext, fileId: string): Promise<void> {
  try {
    await ctx.upstream.send({ method: 'DELETE', path: ['files', fileId], scope: projectScope(ctx) });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  await ctx.state.removeFile(ctx.user, fileId);
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
