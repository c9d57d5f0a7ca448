import { describe, expect, it } from 'vitest';
import { AccountBudget, type Observation, PERMIT_LEASE_MS } from '../../src/limits/account-budget';
import { budgetFor } from '../../src/limits/fair-share';
import { readRateLimit } from '../../src/limits/observations';
import { type Clock, PermitPool } from '../../src/objects/permit-pool';
import { retryAfterFrom } from '../../src/upstream/errors';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const HOUR = 3_600_000;

const rateHeaders = (limit: number, remaining: number, reset: number) =>
  new Headers({
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(remaining),
    'X-RateLimit-Reset': String(reset),
  });

describe('reading the upstream’s reset', () => {
  it('reads epoch seconds, epoch milliseconds and small deltas, and clamps to an hour ahead', () => {
    expect(readRateLimit(rateHeaders(300, 10, NOW / 1000 + 30), NOW)?.resetAt).toBe(NOW + 30_000);
    // Milliseconds read as seconds would be ~20 million days ahead.
    expect(readRateLimit(rateHeaders(300, 10, NOW + 30_000), NOW)?.resetAt).toBe(NOW + 30_000);
    expect(readRateLimit(rateHeaders(300, 10, 30), NOW)?.resetAt).toBe(NOW + 30_000);
    expect(readRateLimit(rateHeaders(300, 10, NOW / 1000 + 7200), NOW)?.resetAt).toBe(NOW + HOUR);
    expect(readRateLimit(rateHeaders(300, 10, (NOW + 30_000) * 1000), NOW)?.resetAt).toBe(NOW + HOUR);
  });

  it('turns a reset in milliseconds into the right Retry-After, and clamps Retry-After to an hour', () => {
    const ms = new Headers({ 'X-RateLimit-Reset': String(NOW + 42_000) });
    expect(retryAfterFrom(ms, true, NOW)).toBe(42);
    expect(retryAfterFrom(new Headers({ 'Retry-After': '99999999' }), true, NOW)).toBe(3600);
    // A short Retry-After wins over a later window end.
    const both = new Headers({ 'Retry-After': '2', 'X-RateLimit-Reset': String(NOW / 1000 + 50) });
    expect(retryAfterFrom(both, true, NOW)).toBe(2);
  });
});

describe('the account budget recovers on its own', () => {
  const spentFor = (reset: number) => {
    const seen = readRateLimit(rateHeaders(300, 0, reset), NOW);
    if (!seen) throw new Error('headers not read');
    return seen;
  };

  it('refuses until a clamped window ends, then grants, though the same observation keeps arriving', () => {
    const budget = new AccountBudget();
    // The upstream announced its window ends in two hours: no request reaches it while we refuse.
    const seen = spentFor(NOW / 1000 + 7200);
    for (let t = NOW; t < NOW + HOUR; t += 10 * 60_000) {
      expect(budget.acquire('a', 4, seen, t).granted).toBe(0);
    }
    expect(budget.acquire('a', 4, seen, NOW + HOUR + 1_000).granted).toBeGreaterThan(0);
  });

  it('reads a reset in milliseconds as such: refuses until it, not for 20 million days', () => {
    const budget = new AccountBudget();
    const seen = spentFor(NOW + 30_000);
    const refused = budget.acquire('a', 4, seen, NOW + 10_000);
    expect(refused).toMatchObject({ granted: 0, retryAfter: 20 });
    expect(budget.acquire('a', 4, seen, NOW + 31_000).granted).toBeGreaterThan(0);
  });

  it('does not let an observation it cannot believe pin the window', () => {
    const budget = new AccountBudget();
    const bogus: Observation = { limit: 300, remaining: 0, resetAt: (NOW / 1000 + 30) * 1_000_000 };
    // Not from the parser (which clamps): ignored, the budget keeps its own provisional window.
    expect(budget.acquire('a', 4, bogus, NOW).granted).toBe(1);
    expect(budget.acquire('a', 4, bogus, NOW + 61_000).granted).toBe(1);
  });

  it('blocks for a short Retry-After only, not until the window’s end', () => {
    const budget = new AccountBudget();
    const seen = readRateLimit(rateHeaders(300, 290, NOW / 1000 + 50), NOW);
    expect(budget.acquire('a', 4, seen, NOW).granted).toBe(4);
    budget.rateLimited(2, NOW);
    expect(budget.acquire('b', 4, seen, NOW + 1_000)).toMatchObject({ granted: 0, retryAfter: 1 });
    expect(budget.acquire('b', 4, seen, NOW + 2_000).granted).toBe(4);
  });

  it('clamps an absurd Retry-After to an hour', () => {
    const budget = new AccountBudget();
    budget.rateLimited(1e12, NOW);
    expect(budget.acquire('a', 1, undefined, NOW + HOUR - 1_000).granted).toBe(0);
    expect(budget.acquire('a', 1, undefined, NOW + HOUR).granted).toBe(1);
  });
});

/** Virtual time for pools and the budget: timers run in order as the simulation advances. */
class VirtualClock implements Clock {
  private timers: { at: number; run: () => void; live: boolean }[] = [];
  private t: number;
  constructor(t: number) {
    this.t = t;
  }
  now = () => this.t;
  later = (ms: number, run: () => void) => {
    const timer = { at: this.t + ms, run, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  };
  async advance(to: number): Promise<void> {
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = Math.max(this.t, due.at);
      due.run();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.timers = this.timers.filter((x) => x.live);
    this.t = to;
  }
}

/** Tenants' pools against one account budget, as the tenant objects and the governor use them. */
function account(limit: number) {
  const clock = new VirtualClock(NOW);
  const budget = new AccountBudget();
  const upstream = { sent: 0 };
  const seen = (): Observation => ({
    limit,
    remaining: Math.max(0, limit - upstream.sent),
    resetAt: NOW + 60_000,
  });
  const pools = new Map<string, PermitPool>();
  /** One request of `tenant`: a permit from its pool; with one, it is sent upstream. */
  async function request(tenant: string): Promise<boolean> {
    let pool = pools.get(tenant);
    if (!pool) {
      pool = new PermitPool(clock);
      pools.set(tenant, pool);
    }
    const outcome = await pool.take(
      true,
      async (want, returned) => budget.acquire(tenant, want, seen(), clock.now(), returned),
      async (returned) => budget.release(tenant, returned, clock.now()),
    );
    if (outcome.ok && outcome.taken) upstream.sent += 1;
    return outcome.ok;
  }
  return { clock, budget, upstream, request };
}

describe('permits leased to idle tenants', () => {
  it('come back to the account within a lease when the tenant asks for nothing more', async () => {
    const { clock, budget, request } = account(300);
    expect(await request('idle')).toBe(true);
    expect(budget.snapshot(clock.now()).used).toBe(4);
    await clock.advance(NOW + PERMIT_LEASE_MS);
    expect(budget.snapshot(clock.now()).used).toBe(1);
  });

  for (const limit of [60, 300, 1000]) {
    it(`leave at least 90% of a ${limit}/min budget usable by 50 active tenants, never more than all of it`, async () => {
      const { clock, upstream, request } = account(limit);
      const busy = Array.from({ length: 10 }, (_, i) => `busy-${i}`);
      const light = Array.from({ length: 40 }, (_, i) => `light-${i}`);
      // Every tenant is active at the window's start; the light ones send two requests, then go idle.
      const bursts = new Map<number, string[]>();
      light.forEach((tenant, j) => {
        bursts.set(j, [tenant]);
      });
      for (let tick = 0; tick < 600; tick++) {
        await Promise.all([...busy, ...(bursts.get(tick) ?? [])].map(request));
        await clock.advance(NOW + (tick + 1) * 100);
      }
      const budget = budgetFor(limit);
      console.log(`${limit}/min, 50 tenants: ${upstream.sent} of a budget of ${budget} used in the window`);
      expect(upstream.sent).toBeLessThanOrEqual(budget);
      expect(upstream.sent).toBeGreaterThanOrEqual(Math.ceil(0.9 * budget));
    });
  }
});
