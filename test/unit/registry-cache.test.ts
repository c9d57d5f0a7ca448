import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';
import { ApiError } from '../../src/errors';
import { FRESH_MS, MAX_AGE_MS, RegistryCache, type Snapshot, STALE_LIMIT_MS } from '../../src/registry/cache';

const parsed = parseConfig({
  EPSIMO_EMAIL: 'ops@example.com',
  EPSIMO_PASSWORD: 'pw',
  TENANTS: JSON.stringify({ acme: { project_id: 'p', session_secret: 'x'.repeat(32), assistants: ['a'] } }),
  REGISTRY: {},
});
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const base = parsed.config;

/** A cache over a fake registry read and a clock the test moves. */
function harness() {
  let now = 1_000_000;
  let reads = 0;
  let fail = false;
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  const deferred: Promise<unknown>[] = [];
  const cache = new RegistryCache(
    async (config) => {
      reads += 1;
      await gate;
      if (fail) throw new Error('d1 down');
      const snapshot: Snapshot = {
        generation: `g${reads}`,
        tenants: new Map(),
        issuers: new Map(),
        known: new Map(),
        seed: config.seed,
        checkedAt: now,
      };
      return snapshot;
    },
    () => now,
  );
  return {
    cache,
    advance: (ms: number) => {
      now += ms;
    },
    reads: () => reads,
    failing: (value: boolean) => {
      fail = value;
    },
    /** Reads from now on wait until `release()`. */
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release: () => {
      gate = undefined;
      open();
    },
    defer: (work: Promise<unknown>) => deferred.push(work),
    settle: () => Promise.all(deferred.splice(0)),
  };
}

describe('the registry cache', () => {
  it('reads the registry once, then serves the copy while it is fresh', async () => {
    const h = harness();
    const first = await h.cache.get(base, h.defer);
    h.advance(FRESH_MS - 1);
    expect(await h.cache.get(base, h.defer)).toBe(first);
    expect(h.reads()).toBe(1);
  });

  it('serves a copy past its freshness and refreshes it in the background, once', async () => {
    const h = harness();
    const first = await h.cache.get(base, h.defer);
    h.advance(FRESH_MS);
    h.hold();
    expect(await h.cache.get(base, h.defer)).toBe(first);
    expect(await h.cache.get(base, h.defer)).toBe(first);
    h.release();
    await h.settle();
    expect(h.reads()).toBe(2);
    expect((await h.cache.get(base, h.defer)).generation).toBe('g2');
  });

  it('never serves a copy older than the maximum age without reading again', async () => {
    const h = harness();
    await h.cache.get(base, h.defer);
    h.advance(MAX_AGE_MS);
    expect((await h.cache.get(base, h.defer)).generation).toBe('g2');
    expect(h.reads()).toBe(2);
  });

  it('reads in line when it cannot defer (a queue job) and the copy is not fresh', async () => {
    const h = harness();
    await h.cache.get(base);
    h.advance(FRESH_MS);
    expect((await h.cache.get(base)).generation).toBe('g2');
  });

  it('reads at once after a change made through this isolate', async () => {
    const h = harness();
    await h.cache.get(base, h.defer);
    h.cache.invalidate();
    expect((await h.cache.get(base, h.defer)).generation).toBe('g2');
    expect((await h.cache.get(base, h.defer)).generation).toBe('g2');
  });

  it('reads before serving a configuration with another TENANTS value (it must be seeded)', async () => {
    const h = harness();
    await h.cache.get(base, h.defer);
    const other = parseConfig({
      ...{ EPSIMO_EMAIL: 'ops@example.com', EPSIMO_PASSWORD: 'pw' },
      TENANTS: '{}',
      REGISTRY: {},
    });
    if (!other.ok) throw new Error('config');
    expect((await h.cache.get(other.config, h.defer)).seed).toBe(other.config.seed);
    expect(h.reads()).toBe(2);
  });

  it('serves a recent copy when the registry cannot be read, and says so past the stale limit', async () => {
    const h = harness();
    const first = await h.cache.get(base, h.defer);
    h.failing(true);
    h.advance(MAX_AGE_MS);
    expect(await h.cache.get(base, h.defer)).toBe(first);
    h.advance(STALE_LIMIT_MS);
    const refused = await h.cache.get(base, h.defer).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', status: 503 });
  });

  it('refuses with 503 when it has never read the registry and cannot', async () => {
    const h = harness();
    h.failing(true);
    await expect(h.cache.get(base, h.defer)).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
  });
});
