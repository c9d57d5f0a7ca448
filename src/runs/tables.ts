// The runs object's SQLite tables: its runs, their event logs and the idempotency keys
// that name them. Created by every instance's constructor, so they must be safe to run
// again over the tables a deployed object already has.

const RUNS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    error TEXT,
    lease TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    log_bytes INTEGER NOT NULL DEFAULT 0,
    log_complete INTEGER NOT NULL DEFAULT 1,
    log_pruned INTEGER NOT NULL DEFAULT 0,
    retain_until INTEGER
  );
  CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_id, n)
  );
  CREATE TABLE IF NOT EXISTS idempotency (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user, key)
  );
  -- An object holds a shard of a tenant's threads: thousands of retained runs, not a few.
  CREATE INDEX IF NOT EXISTS runs_by_thread ON runs (thread_id, status);
  CREATE INDEX IF NOT EXISTS runs_by_retention ON runs (log_pruned, retain_until);
  CREATE INDEX IF NOT EXISTS runs_by_end ON runs (ended_at);
  CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);
`;

/** Creates the runs object's tables where they are missing. */
export function createTables(sql: SqlStorage): void {
  sql.exec(RUNS_SCHEMA);
}
