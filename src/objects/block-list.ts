/** A blocked end user, as the admin API lists them. */
export interface BlockRecord {
  user: string;
  blocked_at: string;
}

export const BLOCK_SCHEMA = `
  CREATE TABLE IF NOT EXISTS blocked_users (
    user TEXT PRIMARY KEY,
    blocked_at TEXT NOT NULL
  );
`;

/**
 * The end users of one tenant the operator blocked (contract section 6), in the tenant's
 * state object: admission checks them on every request with no extra round trip, so a
 * block holds from the moment the admin API answers. Kept in SQLite, mirrored in memory.
 */
export class BlockList {
  readonly #sql: SqlStorage;
  readonly #users: Set<string>;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(BLOCK_SCHEMA);
    this.#users = new Set(
      sql
        .exec<{ user: string }>('SELECT user FROM blocked_users')
        .toArray()
        .map((r) => r.user),
    );
  }

  has(user: string): boolean {
    return this.#users.has(user);
  }

  /** Blocks `user`; `false` when they already were. */
  block(user: string): boolean {
    if (this.#users.has(user)) return false;
    this.#sql.exec(
      'INSERT OR IGNORE INTO blocked_users (user, blocked_at) VALUES (?, ?)',
      user,
      new Date().toISOString(),
    );
    this.#users.add(user);
    return true;
  }

  /** Lets `user` back in; `false` when they were not blocked. */
  unblock(user: string): boolean {
    if (!this.#users.has(user)) return false;
    this.#sql.exec('DELETE FROM blocked_users WHERE user = ?', user);
    this.#users.delete(user);
    return true;
  }

  list(): BlockRecord[] {
    return this.#sql
      .exec<{ user: string; blocked_at: string }>('SELECT user, blocked_at FROM blocked_users ORDER BY user')
      .toArray();
  }
}
