/** One run's hold on a concurrent-stream slot. */
interface Lease {
  user: string;
  expiresAt: number;
}

const PREFIX = 'lease:';

/**
 * A tenant's stream leases: kept in memory and written through to storage without
 * waiting for the write to be confirmed (`allowUnconfirmed`), so taking a slot does not
 * hold the run's first byte behind a storage commit. The trade: if the object dies in
 * the few milliseconds before a write lands, that lease is forgotten and one extra
 * stream may start; a lease is never kept past its expiry either way (the alarm and
 * every count skip expired ones).
 */
export class LeaseBook {
  private readonly leases = new Map<string, Lease>();
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  /** Loads the stored leases; call once under `blockConcurrencyWhile`. */
  async load(): Promise<void> {
    const stored = await this.storage.list<unknown>({ prefix: PREFIX });
    for (const [key, value] of stored) {
      if (value && typeof value === 'object' && 'user' in value && 'expiresAt' in value) {
        const { user, expiresAt } = value;
        if (typeof user === 'string' && typeof expiresAt === 'number') {
          this.leases.set(key.slice(PREFIX.length), { user, expiresAt });
        }
      }
    }
  }

  /** Live leases at `now` (`user`'s among them), and when the first of them expires. */
  active(now: number, user?: string): { count: number; yours: number; next: number | null } {
    let count = 0;
    let yours = 0;
    let next: number | null = null;
    for (const lease of this.leases.values()) {
      if (lease.expiresAt <= now) continue;
      count += 1;
      if (lease.user === user) yours += 1;
      if (next === null || lease.expiresAt < next) next = lease.expiresAt;
    }
    return { count, yours, next };
  }

  take(user: string, expiresAt: number): string {
    const id = `lease_${crypto.randomUUID()}`;
    this.leases.set(id, { user, expiresAt });
    void this.storage.put(`${PREFIX}${id}`, { user, expiresAt }, { allowUnconfirmed: true });
    return id;
  }

  /** Whether the lease was still held (a second release, or one after its expiry, frees nothing). */
  release(id: string): boolean {
    if (!this.leases.delete(id)) return false;
    void this.storage.delete(`${PREFIX}${id}`, { allowUnconfirmed: true });
    return true;
  }

  /** Drops expired leases (a Worker that vanished never released them). */
  prune(now: number): void {
    for (const [id, lease] of this.leases) if (lease.expiresAt <= now) this.release(id);
  }

  /** The earliest expiry of any lease, live or not yet pruned. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const lease of this.leases.values())
      if (next === null || lease.expiresAt < next) next = lease.expiresAt;
    return next;
  }
}
