import { z } from '@hono/zod-openapi';
import type { Page, PageKey, PageRequest } from '../objects/tenant-state';

/**
 * Pagination of the lists the gateway keeps itself (`GET /v1/threads`, `GET /v1/files`):
 * newest first, `limit` per page, and an opaque `cursor` (the `next_cursor` of the page
 * before) that names the last row seen, so pages neither repeat nor skip rows while the
 * list changes.
 */

const CURSOR_MAX = 512;
const KeySchema = z.tuple([z.string().min(1).max(64), z.string().min(1).max(256)]);

/** The cursor of the page after `key`: base64url of `[at, id]`. */
export function encodeCursor(key: PageKey): string {
  const bytes = new TextEncoder().encode(JSON.stringify([key.at, key.id]));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** The key a cursor names, or `undefined` for anything this API did not issue. */
export function decodeCursor(cursor: string): PageKey | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const base64 = cursor.replaceAll('-', '+').replaceAll('_', '/');
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
    const parsed = KeySchema.safeParse(JSON.parse(text));
    return parsed.success ? { at: parsed.data[0], id: parsed.data[1] } : undefined;
  } catch {
    return undefined;
  }
}

const CursorSchema = z
  .string()
  .max(CURSOR_MAX)
  .transform((value, ctx) => {
    const key = decodeCursor(value);
    if (key === undefined) {
      ctx.addIssue({ code: 'custom', message: 'not a cursor of this list (use next_cursor as given)' });
      return z.NEVER;
    }
    return key;
  })
  .openapi({ type: 'string', description: 'The `next_cursor` of the previous page, as given (opaque).' });

/** `?limit&cursor` of a list: 1-100 per page (default 50). */
export const PageQuery = z
  .object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(50)
      .openapi({ type: 'integer', minimum: 1, maximum: 100, default: 50 }),
    cursor: CursorSchema.optional(),
  })
  .strict();

/** The validated query as admission asks the tenant's state for it. */
export const pageOf = (query: z.output<typeof PageQuery>): PageRequest => ({
  limit: query.limit,
  after: query.cursor,
});

/** `next_cursor` of a list response: present only when there is more. */
export const NextCursor = z
  .string()
  .optional()
  .openapi({ description: 'Present when there are more: pass it as `cursor` for the next page.' });

/** The `next_cursor` of a list response, for spreading into it: present only when there is more. */
export function nextCursor(page: Page<unknown>): { next_cursor?: string } {
  return page.next === undefined ? {} : { next_cursor: encodeCursor(page.next) };
}
