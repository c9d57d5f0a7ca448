import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { bindingTtlMs, KeyBook, RUN_KEY_SCHEMA } from '../../src/objects/key-book';
import { IDEMPOTENCY_TTL_MS } from '../../src/runs/log';
import { DEFAULT_LIMITS } from '../../src/tenant';

/** A binding's life: the key's 24 h and the slack for the run's start (the default timeout). */
const TTL = bindingTtlMs(undefined);

/** A key book on a fresh tenant object's own SQLite storage. */
async function withBook(use: (book: KeyBook, sql: SqlStorage) => void): Promise<void> {
  const stub = env.TENANT_STATE.getByName(`keys-${crypto.randomUUID()}`);
  await runInDurableObject(stub, (_, state) => {
    state.storage.sql.exec(RUN_KEY_SCHEMA);
    use(new KeyBook(state.storage.sql, TTL), state.storage.sql);
  });
}

const now = Date.parse('2026-12-04T10:00:00Z');

describe('KeyBook', () => {
  it('binds a key to its first thread, per user, and conflicts only on another thread', async () => {
    // A binding outlives the runs object's 24 h record of the key, which is made after it.
    expect(TTL).toBeGreaterThan(IDEMPOTENCY_TTL_MS);
    await withBook((book) => {
      expect(book.conflicts('alice', 'k', 'th_a', now)).toBe(false);
      book.bind('alice', 'k', 'th_a', now);
      expect(book.conflicts('alice', 'k', 'th_a', now + 1)).toBe(false);
      expect(book.conflicts('alice', 'k', 'th_b', now + 1)).toBe(true);
      // Another user's key of the same text is theirs.
      expect(book.conflicts('bob', 'k', 'th_b', now + 1)).toBe(false);
      // A second bind (a retry on another thread that got past the check) moves nothing.
      book.bind('alice', 'k', 'th_b', now + 2);
      expect(book.conflicts('alice', 'k', 'th_b', now + 3)).toBe(true);
    });
  });

  it('holds 24 h from the last start on its thread, then lets the key be used anew', async () => {
    await withBook((book) => {
      book.bind('alice', 'k', 'th_a', now);
      expect(book.conflicts('alice', 'k', 'th_b', now + TTL - 1)).toBe(true);
      expect(book.conflicts('alice', 'k', 'th_b', now + TTL)).toBe(false);
      // A new start on the same thread (its first run was refused upstream and forgotten)
      // renews the binding with the run its runs object now keeps the key for.
      const later = now + 3600_000;
      book.bind('alice', 'k', 'th_a', later);
      expect(book.conflicts('alice', 'k', 'th_b', now + TTL)).toBe(true);
      expect(book.conflicts('alice', 'k', 'th_b', later + TTL)).toBe(false);
      // Expired, it is taken over by its next use, which then holds it for a day of its own.
      const next = later + TTL;
      book.bind('alice', 'k', 'th_b', next);
      expect(book.conflicts('alice', 'k', 'th_a', next + 1)).toBe(true);
      expect(book.conflicts('alice', 'k', 'th_b', next + 1)).toBe(false);
    });
  });

  it('deletes expired bindings a few at a time as new ones are made', async () => {
    await withBook((book, sql) => {
      for (let i = 0; i < 40; i++) book.bind('alice', `old-${i}`, 'th_a', now);
      const count = () => sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM run_keys').one().n;
      expect(count()).toBe(40);
      const later = now + TTL;
      book.bind('alice', 'new-1', 'th_a', later);
      expect(count()).toBe(40 - 16 + 1);
      book.bind('alice', 'new-2', 'th_a', later);
      book.bind('alice', 'new-3', 'th_a', later);
      expect(count()).toBe(3);
      // The cleanup alarm comes for the rest an hour after the first expires, and takes them.
      expect(book.nextExpiry()).toBe(later + TTL + 3600_000);
      book.prune(later + TTL);
      expect(count()).toBe(0);
      expect(book.nextExpiry()).toBeNull();
    });
  });
});

describe('a binding’s life', () => {
  /**
   * The most a run's start can come after its admission for an upstream timeout: the account
   * guard's two logins (5 s each), its read's retry window (3 s) and two tries of the timeout.
   */
  const guardWorst = (timeout: number) => 2 * 5_000 + 3_000 + 2 * timeout;

  it('outlasts the key’s 24 h by more than its run’s start can lag, whatever UPSTREAM_TIMEOUT_MS is', () => {
    for (const timeout of [10, 10_000, 60_000, 600_000, 3_600_000]) {
      expect(bindingTtlMs(String(timeout)) - IDEMPOTENCY_TTL_MS).toBeGreaterThan(guardWorst(timeout));
    }
    // Unset is the default (10 s); a value the Worker refuses counts as the longest allowed.
    expect(bindingTtlMs(undefined)).toBe(bindingTtlMs('10000'));
    expect(bindingTtlMs('')).toBe(bindingTtlMs('10000'));
    expect(bindingTtlMs('soon')).toBe(bindingTtlMs('3600000'));
  });

  it('is what the tenant’s object binds with, from its own UPSTREAM_TIMEOUT_MS', async () => {
    const tenant = `keys-${crypto.randomUUID()}`;
    const stub = env.TENANT_STATE.getByName(tenant);
    const before = Date.now();
    const admitted = await stub.admit({
      tenant,
      user: 'u',
      limits: DEFAULT_LIMITS,
      lease: { ttlMs: 60_000 },
      runKey: { key: 'k', threadId: 'th_a' },
    });
    expect(admitted.ok).toBe(true);
    const after = Date.now();
    const expires = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ at: number }>('SELECT expires_at AS at FROM run_keys').one().at,
    );
    const ttl = bindingTtlMs(env.UPSTREAM_TIMEOUT_MS);
    expect(expires).toBeGreaterThanOrEqual(before + ttl);
    expect(expires).toBeLessThanOrEqual(after + ttl);
  });
});
