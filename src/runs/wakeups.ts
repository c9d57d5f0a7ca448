import type { RunLog } from './log';

/** While a run is live the object wakes this often: after a crash, the wake-up finds it lost. */
export const KEEPALIVE_MS = 60_000;

/** The part of an object's storage the wake-ups use. */
export type AlarmStorage = Pick<DurableObjectStorage, 'getAlarm' | 'setAlarm' | 'deleteAlarm'>;

/**
 * A runs object's alarm: it wakes while runs are live (to find them lost after a crash)
 * and when logs expire. It remembers when the log next has something to drop, so that
 * starting and ending runs do not scan the shard's runs each time, and when the alarm is
 * set, so that an unchanged one is not written again.
 */
export class Wakeups {
  #alarmAt: number | null = null;
  /** `null`: nothing to drop; `undefined`: not known yet (the next `keepAlive` prunes). */
  #pruneAt: number | null | undefined;
  readonly #storage: AlarmStorage;
  readonly #log: Pick<RunLog, 'prune'>;

  constructor(storage: AlarmStorage, log: Pick<RunLog, 'prune'>) {
    this.#storage = storage;
    this.#log = log;
  }

  /** Reads the alarm storage holds (once, when the object starts). */
  async load(): Promise<void> {
    this.#alarmAt = await this.#storage.getAlarm();
  }

  /** The alarm went off. */
  fired(): void {
    this.#alarmAt = null;
  }

  /** Something in the log becomes prunable at `at`. */
  due(at: number): void {
    if (this.#pruneAt !== undefined)
      this.#pruneAt = this.#pruneAt === null ? at : Math.min(this.#pruneAt, at);
  }

  /** Prunes what is due and sets (or clears) the alarm for the next wake-up. */
  async keepAlive(live: boolean): Promise<void> {
    const now = Date.now();
    if (this.#pruneAt === undefined || (this.#pruneAt !== null && this.#pruneAt <= now)) {
      this.#pruneAt = this.#log.prune(now);
    }
    const prune = this.#pruneAt;
    const wake = live ? now + KEEPALIVE_MS : null;
    const next = prune === null ? wake : wake === null ? prune : Math.min(prune, wake);
    if (next === null) {
      if (this.#alarmAt !== null) await this.#storage.deleteAlarm();
      this.#alarmAt = null;
    } else if (this.#alarmAt === null || this.#alarmAt > next || this.#alarmAt <= now) {
      await this.#storage.setAlarm(next);
      this.#alarmAt = next;
    }
  }
}
