import { type RelayEvent, RelayEventSchema } from '../stream/events';
import type { LoggedEvent, NamedRun, RetryNames, RunAddress, RunStatus, RunView } from './schema';
import { createTables } from './tables';

/** The most a run's event log may weigh; past it, events still go out live but cannot be replayed. */
export const MAX_LOG_BYTES = 4 * 1024 * 1024;
/** How long an `Idempotency-Key` is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** Keys are the user's on one thread (a runs object holds a shard of the tenant's threads). */
export const idempotencyKey = (threadId: string, key: string) => `${threadId}\n${key}`;

export interface RunRow {
  run_id: string;
  thread_id: string;
  tenant: string;
  user: string;
  status: RunStatus;
  created_at: number;
  ended_at: number | null;
  error: string | null;
  lease: string;
  events: number;
  log_bytes: number;
  log_complete: number;
  log_pruned: number;
}

type Row = Record<string, SqlStorageValue>;

const str = (row: Row, key: string) => {
  const value = row[key];
  return typeof value === 'string' ? value : '';
};
const num = (row: Row, key: string) => {
  const value = row[key];
  return typeof value === 'number' ? value : 0;
};
const STATUSES: readonly RunStatus[] = ['running', 'done', 'error', 'cancelled'];

function toRun(row: Row): RunRow {
  const status = STATUSES.find((s) => s === row.status) ?? 'error';
  const endedAt = row.ended_at;
  const error = row.error;
  return {
    run_id: str(row, 'run_id'),
    thread_id: str(row, 'thread_id'),
    tenant: str(row, 'tenant'),
    user: str(row, 'user'),
    status,
    created_at: num(row, 'created_at'),
    ended_at: typeof endedAt === 'number' ? endedAt : null,
    error: typeof error === 'string' ? error : null,
    lease: str(row, 'lease'),
    events: num(row, 'events'),
    log_bytes: num(row, 'log_bytes'),
    log_complete: num(row, 'log_complete'),
    log_pruned: num(row, 'log_pruned'),
  };
}

/** The API view of a run row. */
export function view(row: RunRow): RunView {
  const out: RunView = {
    run_id: row.run_id,
    thread_id: row.thread_id,
    status: row.status,
    created_at: new Date(row.created_at).toISOString(),
  };
  if (row.ended_at !== null) out.ended_at = new Date(row.ended_at).toISOString();
  const error = row.error === null ? undefined : RelayEventSchema.safeParse(JSON.parse(row.error));
  if (error?.success && error.data.type === 'error')
    out.error = { code: error.data.code, detail: error.data.detail };
  return out;
}

/**
 * A thread's runs and their event logs, in its runs object's SQLite storage: every
 * event is appended as it is relayed (so a caller can come back to it), up to
 * {@link MAX_LOG_BYTES} per run.
 */
export class RunLog {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    createTables(sql);
  }

  create(run: Pick<RunRow, 'run_id' | 'thread_id' | 'tenant' | 'user' | 'lease' | 'created_at'>): void {
    this.sql.exec(
      "INSERT INTO runs (run_id, thread_id, tenant, user, status, created_at, lease) VALUES (?, ?, ?, ?, 'running', ?, ?)",
      run.run_id,
      run.thread_id,
      run.tenant,
      run.user,
      run.created_at,
      run.lease,
    );
  }

  /** Removes a run that never began (the upstream refused it), with its idempotency key. */
  forget(runId: string, user: string, key: string | undefined): void {
    this.sql.exec('DELETE FROM run_events WHERE run_id = ?', runId);
    this.sql.exec('DELETE FROM runs WHERE run_id = ?', runId);
    if (key !== undefined) this.sql.exec('DELETE FROM idempotency WHERE user = ? AND key = ?', user, key);
  }

  get(runId: string): RunRow | undefined {
    const row = this.sql.exec('SELECT * FROM runs WHERE run_id = ?', runId).toArray()[0];
    return row ? toRun(row) : undefined;
  }

  /** The thread's running run, if any (at most one); without a thread, any running run here. */
  running(threadId?: string): RunRow | undefined {
    const row = (
      threadId === undefined
        ? this.sql.exec("SELECT * FROM runs WHERE status = 'running' LIMIT 1")
        : this.sql.exec("SELECT * FROM runs WHERE status = 'running' AND thread_id = ? LIMIT 1", threadId)
    ).toArray()[0];
    return row ? toRun(row) : undefined;
  }

  /** Every retained run of `user` on the thread, newest first. */
  list(user: string, threadId: string): RunRow[] {
    return this.sql
      .exec(
        'SELECT * FROM runs WHERE user = ? AND thread_id = ? ORDER BY created_at DESC, run_id DESC',
        user,
        threadId,
      )
      .toArray()
      .map(toRun);
  }

  /**
   * Appends a batch of events (one statement per event, one update of the run, all in the
   * caller's turn: one commit). Past {@link MAX_LOG_BYTES} events are no longer kept for
   * replay and the log is marked incomplete.
   */
  append(run: RunRow, events: readonly LoggedEvent[]): void {
    const last = events.at(-1);
    if (!last) return;
    for (const { n, event } of events) {
      if (run.log_complete === 0) break;
      const text = JSON.stringify(event);
      if (run.log_bytes + text.length > MAX_LOG_BYTES) run.log_complete = 0;
      else {
        this.sql.exec('INSERT INTO run_events (run_id, n, event) VALUES (?, ?, ?)', run.run_id, n, text);
        run.log_bytes += text.length;
      }
    }
    this.sql.exec(
      'UPDATE runs SET events = ?, log_bytes = ?, log_complete = ? WHERE run_id = ?',
      last.n,
      run.log_bytes,
      run.log_complete,
      run.run_id,
    );
  }

  /** Logged events after `after`, in order; `undefined` if some of them are not retained. */
  replay(run: RunRow, after: number): LoggedEvent[] | undefined {
    if (run.log_pruned === 1 || (run.log_complete === 0 && after < run.events)) return undefined;
    return this.sql
      .exec<{ n: number; event: string }>(
        'SELECT n, event FROM run_events WHERE run_id = ? AND n > ? ORDER BY n',
        run.run_id,
        after,
      )
      .toArray()
      .flatMap((row) => {
        const parsed = RelayEventSchema.safeParse(JSON.parse(row.event));
        return parsed.success ? [{ n: row.n, event: parsed.data }] : [];
      });
  }

  /** Ends a run; its log is kept `retentionMs` more. */
  finish(
    run: RunRow,
    status: Exclude<RunStatus, 'running'>,
    at: number,
    retentionMs: number,
    error?: RelayEvent,
  ): void {
    this.sql.exec(
      'UPDATE runs SET status = ?, ended_at = ?, error = ?, retain_until = ? WHERE run_id = ?',
      status,
      at,
      error ? JSON.stringify(error) : null,
      at + retentionMs,
      run.run_id,
    );
    run.status = status;
    run.ended_at = at;
  }

  /** The run an idempotency key names for `user`, with the hash it was first sent with. */
  idempotent(user: string, key: string, now: number): { runId: string; bodyHash: string } | undefined {
    const row = this.sql
      .exec<{ run_id: string; body_hash: string }>(
        'SELECT run_id, body_hash FROM idempotency WHERE user = ? AND key = ? AND expires_at > ?',
        user,
        key,
        now,
      )
      .toArray()[0];
    return row ? { runId: row.run_id, bodyHash: row.body_hash } : undefined;
  }

  /** The run of `at.user` on `at.threadId` a retry's key or resume point names, if retained. */
  named(at: RunAddress & RetryNames, now: number): NamedRun | null {
    const { idempotency, resume } = at;
    const known = idempotency && this.idempotent(at.user, idempotencyKey(at.threadId, idempotency.key), now);
    if (known)
      return known.bodyHash === idempotency?.bodyHash
        ? { kind: 'run', runId: known.runId, after: 0 }
        : { kind: 'conflict' };
    const row = resume && this.get(resume.runId);
    return row && row.user === at.user && row.thread_id === at.threadId ? { kind: 'run', ...resume } : null;
  }

  remember(user: string, key: string, bodyHash: string, runId: string, now: number): void {
    this.sql.exec(
      'INSERT OR REPLACE INTO idempotency (user, key, body_hash, run_id, expires_at) VALUES (?, ?, ?, ?, ?)',
      user,
      key,
      bodyHash,
      runId,
      now + IDEMPOTENCY_TTL_MS,
    );
  }

  /**
   * Drops the logs of runs whose retention has passed (their status stays a day longer,
   * so a late resume is told 410, not 404) and forgets expired keys. Returns when it next
   * has something to drop.
   */
  prune(now: number): number | null {
    for (const { run_id } of this.sql
      .exec<{ run_id: string }>('SELECT run_id FROM runs WHERE retain_until <= ? AND log_pruned = 0', now)
      .toArray()) {
      this.sql.exec('DELETE FROM run_events WHERE run_id = ?', run_id);
      this.sql.exec('UPDATE runs SET log_pruned = 1 WHERE run_id = ?', run_id);
    }
    this.sql.exec('DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at <= ?', now - IDEMPOTENCY_TTL_MS);
    this.sql.exec('DELETE FROM idempotency WHERE expires_at <= ?', now);
    return this.sql
      .exec<{ at: number | null }>(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(retain_until) AS at FROM runs WHERE log_pruned = 0 AND retain_until IS NOT NULL
           UNION ALL SELECT MIN(ended_at) + ? FROM runs WHERE ended_at IS NOT NULL
           UNION ALL SELECT MIN(expires_at) FROM idempotency)`,
        IDEMPOTENCY_TTL_MS,
      )
      .one().at;
  }
}
