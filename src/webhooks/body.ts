import { ApiError } from '../errors';

/** The most a webhook body may weigh (bytes). */
export const MAX_HOOK_BODY = 64 * 1024;

const tooLarge = (max: number) =>
  new ApiError('PAYLOAD_TOO_LARGE', `Webhook bodies are limited to ${max} bytes.`);

/**
 * The request's raw body bytes, exactly as sent (the signature covers these bytes, so
 * nothing may decode or re-encode them first). A `Content-Length` over `max` is refused
 * before anything is read; a body without one is counted while it streams and refused
 * as soon as it passes `max`, never read whole.
 */
export async function readRawBody(request: Request, max: number = MAX_HOOK_BODY): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) throw tooLarge(max);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}
