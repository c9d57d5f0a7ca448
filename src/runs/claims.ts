import { idempotencyKey } from './log';
import type { NamedRun, RetryNames, RunAddress } from './schema';

/**
 * How long a claimed key waits for its request's start before a duplicate stops waiting:
 * longer than an admission usually takes. A request that died before its start holds its
 * twins this long; one slower to admit (a cold login) lets its twin through, to be admitted
 * beside it as without a claim. From the start on, the claim does not expire: this object
 * answers it.
 */
export const CLAIM_TTL_MS = 10_000;

interface Claim {
  /** The claiming request's token: only its own start or release ends the claim. */
  owner: string;
  settled: Promise<void>;
  settle: () => void;
  timer: number | null;
}

/**
 * The `Idempotency-Key`s a runs object was asked about by a request that will start their
 * run (it is being admitted). The same key sent twice at once would otherwise find no run
 * twice and go through admission twice: at `streams_per_user` 1 or at the last run unit
 * the duplicate is refused what its twin is about to start. A duplicate waits here
 * instead, until its twin's start has the upstream's answer (it attaches to the run) or
 * is given up (refused by admission or by the upstream: it claims the key and is admitted
 * itself). In memory: a fresh instance has none, and duplicates are admitted one by one.
 */
export class Claims {
  readonly #claims = new Map<string, Claim>();

  /**
   * What `find` names for `at`, once no twin holds its key: `null` with the key now claimed
   * by `owner`, who must start its run (which ends the claim) or {@link settle} it. Without
   * a key or an owner nothing is claimed or waited for.
   */
  async named(at: RunAddress & RetryNames, owner: string | undefined, find: () => NamedRun | null) {
    for (;;) {
      const found = find();
      if (found || at.idempotency === undefined || owner === undefined) return found;
      const key = claimKey(at.user, at.threadId, at.idempotency.key);
      const twin = this.#claims.get(key);
      if (twin === undefined) {
        this.#claim(key, owner);
        return null;
      }
      await twin.settled;
    }
  }

  /** `owner`'s start is under way in this object: its claim lasts until that start settles it. */
  hold(at: RunAddress & RetryNames, owner: string | undefined): void {
    const owned = this.#owned(at, owner);
    if (owned === undefined) return;
    clearTimeout(owned.claim.timer);
    owned.claim.timer = null;
  }

  /** `owner`'s claim is over (its run began, or will not): its twins look again. */
  settle(at: RunAddress & RetryNames, owner: string | undefined): void {
    const owned = this.#owned(at, owner);
    if (owned === undefined) return;
    this.#claims.delete(owned.key);
    clearTimeout(owned.claim.timer);
    owned.claim.settle();
  }

  /** The claim on `at`'s key, if `owner` holds it (a late release leaves a newer one alone). */
  #owned(at: RunAddress & RetryNames, owner: string | undefined): { key: string; claim: Claim } | undefined {
    if (at.idempotency === undefined || owner === undefined) return undefined;
    const key = claimKey(at.user, at.threadId, at.idempotency.key);
    const claim = this.#claims.get(key);
    return claim?.owner === owner ? { key, claim } : undefined;
  }

  #claim(key: string, owner: string): void {
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const claim: Claim = { owner, settled, settle, timer: null };
    claim.timer = setTimeout(() => {
      if (this.#claims.get(key) !== claim) return;
      this.#claims.delete(key);
      settle();
    }, CLAIM_TTL_MS);
    this.#claims.set(key, claim);
  }
}

/** A key is the user's, on one thread. */
const claimKey = (user: string, threadId: string, key: string): string =>
  `${user}\u0000${idempotencyKey(threadId, key)}`;
