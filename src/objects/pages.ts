import type { FileRecord, Page, PageKey, PageRequest, ThreadRecord } from './tenant-schema';

/** The page size when a list asks for none (the routes always do). */
const DEFAULT_LIMIT = 50;

/**
 * One page of a user's threads (reservations are not threads yet), by keyset: rows
 * strictly after `after` in (created_at, thread_id) descending order, so a page never
 * repeats or skips a row however many are added or deleted in between.
 */
export function threadPage(sql: SqlStorage, user: string, page: PageRequest | undefined): Page<ThreadRecord> {
  const columns = 'thread_id, name, assistant_id, created_at';
  const base = `SELECT ${columns} FROM threads WHERE user = ? AND reserved_until IS NULL`;
  const order = 'ORDER BY created_at DESC, thread_id DESC LIMIT ?';
  const limit = page?.limit ?? DEFAULT_LIMIT;
  const after = page?.after;
  const rows = (
    after === undefined
      ? sql.exec<ThreadRow>(`${base} ${order}`, user, limit + 1)
      : sql.exec<ThreadRow>(
          `${base} AND (created_at < ? OR (created_at = ? AND thread_id < ?)) ${order}`,
          user,
          after.at,
          after.at,
          after.id,
          limit + 1,
        )
  ).toArray();
  return paged(rows, limit, (row) => ({ at: row.created_at, id: row.thread_id }));
}

/** One page of a user's files, like {@link threadPage}, by (uploaded_at, file_id). */
export function filePage(sql: SqlStorage, user: string, page: PageRequest | undefined): Page<FileRecord> {
  const columns = 'file_id, filename, size, mime_type, uploaded_at';
  const base = `SELECT ${columns} FROM files WHERE user = ?`;
  const order = 'ORDER BY uploaded_at DESC, file_id DESC LIMIT ?';
  const limit = page?.limit ?? DEFAULT_LIMIT;
  const after = page?.after;
  const rows = (
    after === undefined
      ? sql.exec<FileRow>(`${base} ${order}`, user, limit + 1)
      : sql.exec<FileRow>(
          `${base} AND (uploaded_at < ? OR (uploaded_at = ? AND file_id < ?)) ${order}`,
          user,
          after.at,
          after.at,
          after.id,
          limit + 1,
        )
  ).toArray();
  return paged(rows, limit, (row) => ({ at: row.uploaded_at, id: row.file_id }));
}

type ThreadRow = { thread_id: string; name: string | null; assistant_id: string | null; created_at: string };
type FileRow = { file_id: string; filename: string; size: number; mime_type: string; uploaded_at: string };

/** `limit + 1` rows were read: the extra one only says there is more. */
function paged<T>(rows: T[], limit: number, keyOf: (row: T) => PageKey): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return last === undefined ? { items } : { items, next: keyOf(last) };
}
