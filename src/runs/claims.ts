import { idempotencyKey } from './log';
import type { NamedRun, RetryNames, RunAddress } from './schema';

/**
 * How long a claimed key waits for its start before a duplicate stops waiting: longer than
 * an admission takes, so it only ends the claim of a request that died before its start.
 */
export const CLAIM_TTL_MS = 10_000;

interface Claim {
  settled: Promise<void>;
  settle: () => void;
  timer: number;
}

/**
 * The `Idempotency-Key`s a runs object was asked about by a request that will start their
 * run (it was admitted meanwhile, or is being admitted). The same key sent twice at once
 * would otherwise find no run twice and go through admission twice: at `streams_per_user`
 * 1 or at the last run unit the duplicate is refused what its twin is about to start. A
 * duplicate waits here instead, for its twin's run to be recorded (it attaches) or given
 * up (it claims the key and is admitted itself). In memory: a fresh instance has none,
 * and duplicates are admitted one by one as before.
 */
export class Claims {
  readonly #claims = new Map<string, Claim>();

  /**
   * What `find` names for `at`, once no twin holds its key: `null` with the key now claimed
   * by this caller, who must start its run (which settles the claim) or {@link settle} it.
   * A request without a key claims nothing.
   */
  async named(at: RunAddress & RetryNames, find: () => NamedRun | null): Promise<NamedRun | null> {
    for (;;) {
      const found = find();
      if (found || at.idempotency === undefined) return found;
      const key = claimKey(at.user, at.threadId, at.idempotency.key);
      const twin = this.#claims.get(key);
      if (twin === undefined) {
        this.#claim(key);
        return null;
      }
      await twin.settled;
    }
  }

  /** The claim of `at`'s key is over (its run was recorded, or will not be): its twins look again. */
  settle(at: RunAddress & RetryNames): void {
    if (at.idempotency === undefined) return;
    const key = claimKey(at.user, at.threadId, at.idempotency.key);
    const claim = this.#claims.get(key);
    if (claim === undefined) return;
    this.#claims.delete(key);
    clearTimeout(claim.timer);
    claim.settle();
  }

  #claim(key: string): void {
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const timer = setTimeout(() => {
      if (this.#claims.get(key)?.settled !== settled) return;
      this.#claims.delete(key);
      settle();
    }, CLAIM_TTL_MS);
    this.#claims.set(key, { settled, settle, timer });
  }
}

/** A key is the user's, on one thread. */
const claimKey = (user: string, threadId: string, key: string): string =>
  `${user}\u0000${idempotencyKey(threadId, key)}`;
