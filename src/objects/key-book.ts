import { UpstreamTimeoutSchema } from '../config';
import { IDEMPOTENCY_TTL_MS } from '../runs/log';

/** At most this many expired bindings are deleted per new one: the cleanup's cost is bounded. */
const PRUNE_BATCH = 16;
/** And at most this many by the object's cleanup alarm. */
const ALARM_PRUNE_BATCH = 1000;
/** A binding outlasts the key's 24 h by this and twice the upstream timeout (see {@link bindingTtlMs}). */
const START_SLACK_MS = 60_000;

/**
 * How long a binding lasts from its run's admission, for `UPSTREAM_TIMEOUT_MS` (the raw
 * binding, read by the tenant's object itself): the key's 24 h and the most the run's start
 * (where the runs object's 24 h of the key begin) can come after the admission, so that the
 * binding never ends while the runs object still names the key's run. In between, the
 * account guard (services/account.ts) may wait for a login (the broker's 5 s) and a read
 * (retried within 3 s, each try up to the timeout), twice when its token is refreshed:
 * twice the timeout and a minute cover that and the round trips. A value the Worker would
 * refuse (every request is then `503 CONFIG_INVALID`) counts as the longest allowed.
 */
export function bindingTtlMs(upstreamTimeout: unknown): number {
  const parsed = UpstreamTimeoutSchema.safeParse(upstreamTimeout === '' ? undefined : upstreamTimeout);
  const timeout = parsed.success ? parsed.data : 3_600_000;
  return IDEMPOTENCY_TTL_MS + START_SLACK_MS + 2 * timeout;
}
/** The alarm comes this long after the first expiry, so one alarm deletes many keys. */
const ALARM_SLACK_MS = 3600_000;

/** The run keys table: which thread each user's `Idempotency-Key` was first used on. */
export const RUN_KEY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS run_keys (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user, key)
  );
  CREATE INDEX IF NOT EXISTS run_keys_by_expiry ON run_keys (expires_at);
`;

/**
 * A user's `Idempotency-Key`s and the thread each was first used on, for 24 h. The key's
 * run lives in its thread's runs object (one of several shards, services/run-shards.ts),
 * which can only see keys of its own threads: this book, in the one object every run's
 * admission passes, is what makes a key the user's across threads, so the same key on
 * another thread is a conflict rather than a second, paid run. Bound at the admission of
 * a new run, with no round trip of its own.
 */
export class KeyBook {
  private readonly sql: SqlStorage;
  /** How long a binding lasts from its run's admission ({@link bindingTtlMs}). */
  readonly ttlMs: number;

  // No default: the tenant's object passes its own UPSTREAM_TIMEOUT_MS (forgetting it is a type error).
  constructor(sql: SqlStorage, ttlMs: number) {
    this.sql = sql;
    this.ttlMs = ttlMs;
  }

  /** Whether `key` is bound, unexpired, to a thread other than `threadId`. */
  conflicts(user: string, key: string, threadId: string, now: number): boolean {
    const row = this.sql
      .exec<{ thread_id: string }>(
        'SELECT thread_id FROM run_keys WHERE user = ? AND key = ? AND expires_at > ?',
        user,
        key,
        now,
      )
      .toArray()[0];
    return row !== undefined && row.thread_id !== threadId;
  }

  /**
   * Binds `key` to `threadId` for {@link ttlMs} from now, after deleting a few
   * expired bindings. A bind is a new run's admission, whose runs object remembers the key
   * for 24 h from the run's start, so a live binding to the same thread is renewed with it
   * (the key names that run on no other thread meanwhile); one to another thread is kept,
   * an expired one taken over.
   */
  bind(user: string, key: string, threadId: string, now: number): void {
    this.prune(now, PRUNE_BATCH);
    this.sql.exec(
      `INSERT INTO run_keys (user, key, thread_id, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user, key) DO UPDATE SET thread_id = excluded.thread_id,
         expires_at = excluded.expires_at
       WHERE run_keys.expires_at <= ? OR run_keys.thread_id = excluded.thread_id`,
      user,
      key,
      threadId,
      now + this.ttlMs,
      now,
    );
  }

  /**
   * Deletes up to `limit` expired bindings: each bind deletes a few, and the object's cleanup
   * alarm more, so a tenant whose keyed runs stopped does not keep its last day's keys.
   */
  prune(now: number, limit = ALARM_PRUNE_BATCH): void {
    this.sql.exec(
      'DELETE FROM run_keys WHERE rowid IN (SELECT rowid FROM run_keys WHERE expires_at <= ? LIMIT ?)',
      now,
      limit,
    );
  }

  /** When the cleanup alarm should next come for keys (`null`: none are held). */
  nextExpiry(): number | null {
    const { at } = this.sql.exec<{ at: number | null }>('SELECT MIN(expires_at) AS at FROM run_keys').one();
    return at === null ? null : at + ALARM_SLACK_MS;
  }
}
