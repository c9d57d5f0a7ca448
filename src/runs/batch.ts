import type { LoggedEvent } from './schema';

/**
 * The log is written in batches, at most this long after an event was relayed, not once
 * per event: every write is a storage commit, and a commit costs more than relaying an
 * event (measured with the bench's storage on disk: about 2 ms of the object's thread
 * per event, against a tenth of that for the rest), and it holds the object's outgoing
 * frames until it is confirmed.
 */
export const LOG_FLUSH_MS = 100;

/**
 * The most events relayed and not yet logged. They die unlogged with an instance that
 * crashes, which ends the run `RUN_LOST`; that event is numbered past them, so an id a
 * caller saw is never reused.
 */
export const LOG_BATCH_MAX = 64;

/**
 * A run's events on their way to its log: `add` queues one, and `write` gets them all
 * in one call (one commit) within {@link LOG_FLUSH_MS}, or at once when
 * {@link LOG_BATCH_MAX} are waiting or `flush` is called (an attach, the final event).
 */
export class LogBatch {
  #pending: LoggedEvent[] = [];
  #timer: number | null = null;
  readonly #write: (events: readonly LoggedEvent[]) => void;

  constructor(write: (events: readonly LoggedEvent[]) => void) {
    this.#write = write;
  }

  add(event: LoggedEvent): void {
    this.#pending.push(event);
    if (this.#pending.length >= LOG_BATCH_MAX) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), LOG_FLUSH_MS);
  }

  /** Writes what is waiting, now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    this.#write(events);
  }
}
