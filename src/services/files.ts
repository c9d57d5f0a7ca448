import { ApiError } from '../errors';
import { meter } from '../metering/usage';
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
  meter(ctx, { upload_bytes: file.size });
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

/** A file name without paths, quotes or control characters, at most 200 characters. */
function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = [...base]
    .filter((ch) => ch !== '"' && (ch.codePointAt(0) ?? 0) >= 0x20 && ch !== '\u007f')
    .join('')
    .trim()
    .slice(0, 200);
  return cleaned || 'upload';
}
