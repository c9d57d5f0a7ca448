import type { Config } from '../config';
import { ApiError } from '../errors';
import { errorName, log } from '../log';

/**
 * The registry as one isolate last read it. `tenants` keeps its identity while the
 * registry's generation does not change, so what is cached per configuration (verified
 * tokens, CORS origins) survives a refresh that found nothing new.
 */
export interface Snapshot {
  /** The registry's generation when read (`null`: never written). */
  generation: string | null;
  tenants: Config['tenants'];
  issuers: Config['issuers'];
  /** Every tenant id the registry knows, deleted ones included, with its latest epoch. */
  known: ReadonlyMap<string, number>;
  /** The `TENANTS` seed this read made sure of (by identity: configurations are parsed once). */
  seed: Config['seed'];
  /** When the registry was last asked (epoch ms). */
  checkedAt: number;
}

/** Reads the registry for `base` (seeding it first when need be), reusing `known` when current. */
export type SnapshotLoader = (base: Config, known: Snapshot | undefined) => Promise<Snapshot>;

/** Younger than this, a snapshot is used as it is. */
export const FRESH_MS = 10_000;
/**
 * Between {@link FRESH_MS} and this, a request uses the snapshot and refreshes it in the
 * background; older, the request waits for a fresh read. So a change reaches every isolate
 * within this long (the contract says 30 s), and only an isolate idle that long waits on D1.
 */
export const MAX_AGE_MS = 25_000;
/** When the registry cannot be read, a snapshot up to this old is served (and the failure logged). */
export const STALE_LIMIT_MS = 5 * 60_000;

/**
 * A per-isolate cache of the tenant registry with a short TTL: no request waits on D1
 * while the copy is fresh, a background refresh keeps it so under steady traffic, and a
 * copy past {@link MAX_AGE_MS} is never trusted without asking again. No promise is
 * shared between requests (the runtime ties one to the request that made it): a
 * request that must wait does its own read.
 */
export class RegistryCache {
  #snapshot: Snapshot | undefined;
  /** When the running background refresh started (0: none). */
  #refreshing = 0;
  /** Changes made through this isolate: the copy is out of date until a read begun after the last. */
  #changes = 0;
  #readAfter = 0;
  readonly #load: SnapshotLoader;
  readonly #now: () => number;

  constructor(load: SnapshotLoader, now: () => number = Date.now) {
    this.#load = load;
    this.#now = now;
  }

  /**
   * The registry for `base`. `defer` keeps a background refresh alive past the response
   * (`waitUntil`); without it (a queue job) a stale copy is refreshed in line.
   */
  async get(base: Config, defer?: (work: Promise<unknown>) => void): Promise<Snapshot> {
    const known = this.#snapshot;
    const now = this.#now();
    // A configuration with another TENANTS value must be seeded before it is served.
    const usable = known !== undefined && known.seed === base.seed;
    if (usable && this.#readAfter === this.#changes) {
      const age = now - known.checkedAt;
      if (age < FRESH_MS) return known;
      if (age < MAX_AGE_MS && defer) {
        if (now - this.#refreshing >= MAX_AGE_MS) {
          this.#refreshing = now;
          defer(this.#refresh(base).catch((error: unknown) => this.#failed(error, 'background')));
        }
        return known;
      }
    }
    try {
      return await this.#refresh(base);
    } catch (error) {
      this.#failed(error, 'blocking');
      if (usable && now - known.checkedAt < STALE_LIMIT_MS) return known;
      throw new ApiError('REGISTRY_UNAVAILABLE', 'The gateway cannot read its tenant registry right now.', {
        retryAfter: 5,
      });
    }
  }

  /** Forgets the copy's freshness: the next request reads the registry (after a local change). */
  invalidate(): void {
    this.#changes += 1;
  }

  async #refresh(base: Config): Promise<Snapshot> {
    try {
      const changes = this.#changes;
      const next = await this.#load(base, this.#snapshot);
      this.#snapshot = next;
      this.#readAfter = changes;
      return next;
    } finally {
      this.#refreshing = 0;
    }
  }

  #failed(error: unknown, mode: 'background' | 'blocking'): void {
    log('error', 'tenant registry unreadable', { mode, error: errorName(error) });
  }
}
