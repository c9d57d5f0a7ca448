import { MeterFlushSchema } from '../config';
import { type UsageEntry, utcDay } from '../metering/metrics';

/** Counts wait at most this long in memory before they are written (`METER_FLUSH_MS`, default). */
export const FLUSH_MS = MeterFlushSchema.parse(undefined);

/**
 * `METER_FLUSH_MS` by the config's schema. A bad value refuses every request (the config is
 * invalid), so the object's fallback to {@link FLUSH_MS} only keeps its counts moving.
 */
export function flushMs(value: unknown): number {
  const parsed = MeterFlushSchema.safeParse(value === '' ? undefined : value);
  return parsed.success ? parsed.data : FLUSH_MS;
}
/** More pending rows than this are written at once. */
const MAX_PENDING_ROWS = 2_000;
/** Days of usage kept; older rows are pruned (at most once an hour). */
const RETENTION_DAYS = 400;

/** One stored count: a metric of a user on a day. */
export interface UsageRow {
  day: string;
  user: string;
  metric: string;
  n: number;
}

/** Which rows a usage export reads: a day range (inclusive), per user or summed per day. */
export interface UsageQuery {
  from: string;
  to: string;
  byUser: boolean;
}

export const METER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL,
    user TEXT NOT NULL,
    metric TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, user, metric)
  ) WITHOUT ROWID;
`;

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The tenant's metered usage, written behind: counts that arrive within {@link FLUSH_MS}
 * are summed in memory and written in one transaction, so no request waits on a write
 * of its own (the Worker sends its counts after the response, `waitUntil`). Each sender
 * is answered only once its counts are written: an object evicted meanwhile is kept until
 * the calls in flight are answered, and a sender whose call failed (the object was reset)
 * knows it and sends again (metering/usage.ts). What is written is never lost; a count is
 * written twice only if an object is reset between its write and its answer.
 */
export class MeterBook {
  readonly #storage: DurableObjectStorage;
  /** `day\u0000user` → metric → count not yet written. */
  #pending = new Map<string, Map<string, number>>();
  #waiters: Waiter[] = [];
  #timer: number | null = null;
  #prunedAt = 0;
  readonly #flushMs: number;

  constructor(storage: DurableObjectStorage, flushAfterMs: number = FLUSH_MS) {
    this.#storage = storage;
    this.#flushMs = flushAfterMs;
    storage.sql.exec(METER_SCHEMA);
  }

  /** Adds `entries`; resolves once they are written (rejects if the write failed: nothing was). */
  add(entries: readonly UsageEntry[]): Promise<void> {
    for (const { day, user, counts } of entries) {
      const key = `${day}\u0000${user}`;
      const row = this.#pending.get(key) ?? new Map<string, number>();
      for (const [metric, n] of Object.entries(counts)) {
        if (n !== undefined && n !== 0) row.set(metric, (row.get(metric) ?? 0) + n);
      }
      if (row.size > 0) this.#pending.set(key, row);
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (this.#pending.size >= MAX_PENDING_ROWS) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
    });
  }

  /** Writes what is pending now, in one transaction, and answers everyone who sent it. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = null;
    const pending = this.#pending;
    const waiters = this.#waiters;
    this.#pending = new Map();
    this.#waiters = [];
    try {
      this.#storage.transactionSync(() => {
        for (const [key, row] of pending) {
          const [day = '', user = ''] = key.split('\u0000');
          for (const [metric, n] of row) {
            this.#storage.sql.exec(
              'INSERT INTO usage (day, user, metric, n) VALUES (?, ?, ?, ?) ' +
                'ON CONFLICT (day, user, metric) DO UPDATE SET n = n + excluded.n',
              day,
              user,
              metric,
              n,
            );
          }
        }
        this.#prune();
      });
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    for (const waiter of waiters) waiter.resolve();
  }

  /** The written counts in `query`'s range (what is still pending is not there yet). */
  read(query: UsageQuery): UsageRow[] {
    const cursor = query.byUser
      ? this.#storage.sql.exec<{ day: string; user: string; metric: string; n: number }>(
          'SELECT day, user, metric, n FROM usage WHERE day >= ? AND day <= ? ORDER BY day, user, metric',
          query.from,
          query.to,
        )
      : this.#storage.sql.exec<{ day: string; user: string; metric: string; n: number }>(
          "SELECT day, '' AS user, metric, SUM(n) AS n FROM usage WHERE day >= ? AND day <= ? " +
            'GROUP BY day, metric ORDER BY day, metric',
          query.from,
          query.to,
        );
    return cursor.toArray();
  }

  #prune(): void {
    const now = Date.now();
    if (now - this.#prunedAt < 3_600_000) return;
    this.#prunedAt = now;
    this.#storage.sql.exec('DELETE FROM usage WHERE day < ?', utcDay(now - RETENTION_DAYS * 86_400_000));
  }
}
