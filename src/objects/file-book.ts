import type { FileRecord } from './tenant-schema';

/**
 * Upload holds: an upload in flight holds one of its user's `files_per_user` from
 * admission until the upstream answered, so concurrent uploads cannot overshoot the
 * quota. A hold is turned into the file on success and given back otherwise; one whose
 * Worker vanished is dropped by the alarm when it expires.
 */
export const FILE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS file_holds (
    hold_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS file_holds_by_user ON file_holds (user);
`;

/** The tenant's files and upload holds, in its object's SQLite storage. */
export class FileBook {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Whether `fileId` is a file of `user`. */
  owns(user: string, fileId: string): boolean {
    return (
      this.#sql.exec('SELECT 1 AS hit FROM files WHERE file_id = ? AND user = ?', fileId, user).toArray()
        .length > 0
    );
  }

  /** The user's files. */
  count(user: string): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM files WHERE user = ?', user).one().n;
  }

  /** The user's uploads in flight. */
  held(user: string): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM file_holds WHERE user = ?', user).one().n;
  }

  /** Takes one of the user's file slots until `expiresAt`; returns the hold's id. */
  hold(user: string, expiresAt: number): string {
    const id = `fhold_${crypto.randomUUID()}`;
    this.#sql.exec(
      'INSERT INTO file_holds (hold_id, user, expires_at) VALUES (?, ?, ?)',
      id,
      user,
      expiresAt,
    );
    return id;
  }

  /**
   * Turns a hold into the uploaded file, in one step. Should the hold have expired
   * meanwhile, the file is still recorded: it exists upstream and must not become an orphan.
   */
  commit(user: string, holdId: string, file: FileRecord): void {
    this.release(user, holdId);
    this.#sql.exec(
      // A file id is never reassigned to another user.
      'INSERT OR IGNORE INTO files (file_id, user, filename, size, mime_type, uploaded_at) VALUES (?, ?, ?, ?, ?, ?)',
      file.file_id,
      user,
      file.filename,
      file.size,
      file.mime_type,
      file.uploaded_at,
    );
  }

  /** Gives a hold back (the upload failed or was refused). */
  release(user: string, holdId: string): void {
    this.#sql.exec('DELETE FROM file_holds WHERE hold_id = ? AND user = ?', holdId, user);
  }

  /** Forgets a deleted file, freeing its slot. */
  remove(user: string, fileId: string): void {
    this.#sql.exec('DELETE FROM files WHERE file_id = ? AND user = ?', fileId, user);
  }

  /** Drops the holds that expired by `now` (their Worker vanished). */
  prune(now: number): void {
    this.#sql.exec('DELETE FROM file_holds WHERE expires_at <= ?', now);
  }

  /** When the earliest hold expires, or null. */
  nextExpiry(): number | null {
    return this.#sql.exec<{ at: number | null }>('SELECT MIN(expires_at) AS at FROM file_holds').one().at;
  }
}
