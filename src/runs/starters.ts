import type { RunAddress } from './schema';

/**
 * How long a starter's hang-up is remembered when it came before its start joined the run
 * (the two calls race to the object): far longer than a start waits to be handled here.
 */
export const EARLY_LEAVE_TTL_MS = 30_000;

/**
 * How long a start's connection can still be dropped once its start answered: the answer
 * is on its way to a request that may be gone already (hung up meanwhile), whose hang-up
 * then arrives instead of a reader. A request that got the answer reads the stream, and
 * its hang-up cancels it like any reader's.
 */
export const ANSWERED_TTL_MS = 10_000;

/**
 * The connections the requests that start runs joined, by a token of each request's own
 * (`StartRun.starter`). A caller who hangs up while its run's upstream is still opening is
 * never written to (its Worker has not answered), so its stream is never cancelled: only
 * its request's abort signal knows, and its Worker tells this object ({@link left}). Its
 * connection is then dropped, so the run is read by nobody: it detaches (the grace
 * starts), and a chat's next message may end it. In memory, like the connections.
 */
export class Starters {
  readonly #joined = new Map<string, () => void>();
  readonly #left = new Map<string, number>();

  /** `drop` ends the connection `token`'s start joined: at once if its caller left already. */
  joined(at: RunAddress, token: string | undefined, drop: () => void): void {
    if (token === undefined) return;
    const key = starterKey(at, token);
    const left = this.#left.get(key);
    if (left !== undefined) {
      clearTimeout(left);
      this.#left.delete(key);
      drop();
      return;
    }
    this.#joined.set(key, drop);
  }

  /** `token`'s start answered: its connection can be dropped a little longer, then it is the reader's. */
  answered(at: RunAddress, token: string | undefined): void {
    if (token === undefined) return;
    const key = starterKey(at, token);
    const drop = this.#joined.get(key);
    if (drop === undefined) return;
    setTimeout(() => {
      if (this.#joined.get(key) === drop) this.#joined.delete(key);
    }, ANSWERED_TTL_MS);
  }

  /** The caller of `token`'s start hung up: its connection is dropped, now or when it joins. */
  left(at: RunAddress, token: string): void {
    const key = starterKey(at, token);
    const drop = this.#joined.get(key);
    if (drop !== undefined) {
      this.#joined.delete(key);
      drop();
      return;
    }
    if (this.#left.has(key)) return;
    this.#left.set(
      key,
      setTimeout(() => this.#left.delete(key), EARLY_LEAVE_TTL_MS),
    );
  }
}

/** A token is its user's, on one thread. */
const starterKey = (at: RunAddress, token: string): string => `${at.user}\u0000${at.threadId}\u0000${token}`;
