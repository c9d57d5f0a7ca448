import type { ThreadRecord } from './tenant-schema';

/** A reservation nobody committed or released within this long is released by the alarm. */
export const RESERVATION_TTL_MS = 2 * 60_000;

/**
 * The tenant's threads and thread reservations (the `threads` table of its object's
 * SQLite storage, see `TENANT_SCHEMA`): which user owns which thread, and the quota a
 * creation in flight holds. A reservation is a row with `reserved_until` set; it becomes
 * the thread the upstream created, or goes (given back, or swept by the alarm).
 */
export class ThreadBook {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Whether `threadId` is a thread of `user` (a reservation is not). */
  owns(user: string, threadId: string): boolean {
    return (
      this.#sql
        .exec(
          'SELECT 1 AS hit FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NULL',
          threadId,
          user,
        )
        .toArray().length > 0
    );
  }

  /**
   * Whether the thread's assistant is one of `assistants` (the tenant's allow-list now);
   * a thread recorded without one (created before assistants were recorded) is allowed.
   */
  offers(threadId: string, assistants: readonly string[]): boolean {
    const row = this.#sql
      .exec<{ assistant_id: string | null }>('SELECT assistant_id FROM threads WHERE thread_id = ?', threadId)
      .toArray()[0];
    return row?.assistant_id == null || assistants.includes(row.assistant_id);
  }

  /** The user's threads and reservations (with no user: the tenant's). */
  count(user?: string): number {
    const cursor =
      user === undefined
        ? this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads')
        : this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads WHERE user = ?', user);
    return cursor.one().n;
  }

  /** Holds one thread of the user's quota for {@link RESERVATION_TTL_MS}; returns the reservation's id. */
  reserve(user: string, now: number): string {
    const reservation = `rsv_${crypto.randomUUID()}`;
    this.#sql.exec(
      'INSERT INTO threads (thread_id, user, created_at, reserved_until) VALUES (?, ?, ?, ?)',
      reservation,
      user,
      new Date(now).toISOString(),
      now + RESERVATION_TTL_MS,
    );
    return reservation;
  }

  /**
   * Turns a reservation into the thread the upstream created (see
   * `TenantState.commitThread`): `taken` when another user holds the id, and nothing changes.
   */
  commit(user: string, reservation: string, thread: ThreadRecord): 'committed' | 'taken' {
    const holder = this.#sql
      .exec<{ user: string }>('SELECT user FROM threads WHERE thread_id = ?', thread.thread_id)
      .toArray()[0];
    if (holder !== undefined && holder.user !== user) return 'taken';
    if (holder !== undefined) {
      this.release(user, reservation);
      return 'committed';
    }
    const updated = this.#sql.exec(
      `UPDATE threads SET thread_id = ?, name = ?, assistant_id = ?, created_at = ?, reserved_until = NULL
       WHERE thread_id = ? AND user = ?`,
      thread.thread_id,
      thread.name,
      thread.assistant_id,
      thread.created_at,
      reservation,
      user,
    ).rowsWritten;
    // The reservation was swept meanwhile: the thread is recorded all the same.
    if (updated === 0) {
      this.#sql.exec(
        'INSERT INTO threads (thread_id, user, name, assistant_id, created_at) VALUES (?, ?, ?, ?, ?)',
        thread.thread_id,
        user,
        thread.name,
        thread.assistant_id,
        thread.created_at,
      );
    }
    return 'committed';
  }

  /** Gives a reservation back. */
  release(user: string, reservation: string): void {
    this.#sql.exec(
      'DELETE FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NOT NULL',
      reservation,
      user,
    );
  }

  /** Forgets a deleted thread, freeing its quota; whether it was recorded (false: already forgotten). */
  remove(user: string, threadId: string): boolean {
    return (
      this.#sql.exec(
        'DELETE FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NULL',
        threadId,
        user,
      ).rowsWritten > 0
    );
  }

  /** Drops the reservations expired by `now`. */
  prune(now: number): void {
    this.#sql.exec('DELETE FROM threads WHERE reserved_until IS NOT NULL AND reserved_until <= ?', now);
  }

  /** When the earliest reservation expires, if any is held. */
  nextExpiry(): number | null {
    return this.#sql
      .exec<{ at: number | null }>(
        'SELECT MIN(reserved_until) AS at FROM threads WHERE reserved_until IS NOT NULL',
      )
      .one().at;
  }
}
