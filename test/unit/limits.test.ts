import { describe, expect, it } from 'vitest';
import { take } from '../../src/limits/bucket';
import { allocate, type BudgetWindow, budgetFor } from '../../src/limits/fair-share';
import { rateLimitHeaders, ratePolicies } from '../../src/limits/policy';
import { PermitPool } from '../../src/objects/permit-pool';

describe('token bucket', () => {
  const policy = { capacity: 3, perMinute: 60 };

  it('starts full, refuses when empty, refills at its rate', () => {
    let result = take(undefined, policy, 0);
    expect(result).toMatchObject({ allowed: true, remaining: 2 });
    result = take(result.state, policy, 0);
    result = take(result.state, policy, 0);
    expect(result).toMatchObject({ allowed: true, remaining: 0, resetIn: 3 });
    const refused = take(result.state, policy, 0);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfter: 1 });
    // A refused request takes nothing: the state is unchanged.
    expect(refused.state.tokens).toBe(result.state.tokens);
    expect(take(result.state, policy, 1000)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('never holds more than its capacity', () => {
    const idle = take({ tokens: 0, updatedAt: 0 }, policy, 3_600_000);
    expect(idle.remaining).toBe(policy.capacity - 1);
  });
});

describe('rate policies and headers', () => {
  it('describes both buckets in IETF RateLimit-Policy and RateLimit', () => {
    const policies = ratePolicies({
      requests_per_minute: 120,
      burst: 30,
      tenant_requests_per_minute: 3000,
    });
    expect(policies.tenant).toEqual({ capacity: 500, perMinute: 3000 });
    const headers = rateLimitHeaders(policies, {
      user: { remaining: 12, resetIn: 9 },
      tenant: { remaining: 400, resetIn: 2 },
    });
    expect(headers['RateLimit-Policy']).toBe('"user";q=30;w=15, "tenant";q=500;w=10');
    expect(headers.RateLimit).toBe('"user";r=12;t=9, "tenant";r=400;t=2');
  });
});

describe('fair share of the upstream budget', () => {
  const fresh = (budget: number): BudgetWindow => ({ resetAt: 60_000, budget, used: 0, byTenant: {} });

  it('keeps a margin below the upstream limit', () => {
    expect(budgetFor(60)).toBe(57);
    expect(budgetFor(1000)).toBe(950);
  });

  it('splits a contended budget evenly and never grants past it', () => {
    const window = fresh(57);
    const active = ['a', 'b', 'c'];
    const granted: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let round = 0; round < 100; round++) {
      for (const t of active) granted[t] = (granted[t] ?? 0) + allocate(window, t, 4, active, 0).granted;
    }
    expect(window.used).toBe(57);
    expect(Object.values(granted)).toEqual([19, 19, 19]);
  });

  it('lets one tenant use what idle tenants do not ask for, but not what they are owed', () => {
    const window = fresh(60);
    // b and c are active but have taken nothing yet: they are owed 20 each.
    let a = 0;
    for (let i = 0; i < 50; i++) a += allocate(window, 'a', 4, ['a', 'b', 'c'], 0).granted;
    expect(a).toBe(20);
    // Alone, a tenant may take the whole budget.
    const alone = fresh(60);
    let solo = 0;
    for (let i = 0; i < 50; i++) solo += allocate(alone, 'a', 4, ['a'], 0).granted;
    expect(solo).toBe(60);
  });

  it('answers an honest Retry-After when the budget is spent', () => {
    const window = { ...fresh(1), used: 1 };
    expect(allocate(window, 'a', 1, ['a'], 15_000)).toEqual({ granted: 0, retryAfter: 45 });
  });
});

describe('permit pool', () => {
  it('shares one refill between concurrent takers', async () => {
    const pool = new PermitPool();
    let calls = 0;
    const acquire = async (want: number) => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { granted: want, expiresAt: Date.now() + 60_000, retryAfter: 0, window: 'w' };
    };
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => pool.take(true, acquire)));
    expect(outcomes.every((o) => o.ok && o.taken)).toBe(true);
    expect(calls).toBeLessThanOrEqual(2);
  });

  it('fails costly requests closed and cheap ones open when the governor cannot answer', async () => {
    const pool = new PermitPool();
    const broken = async () => {
      throw new Error('governor down');
    };
    expect(await pool.take(true, broken)).toEqual({ ok: false, reason: 'limiter', retryAfter: 5 });
    expect(await pool.take(false, broken)).toEqual({ ok: true, taken: false });
  });

  it('passes a refusal through with its Retry-After', async () => {
    const pool = new PermitPool();
    const spent = async () => ({ granted: 0, expiresAt: Date.now() + 30_000, retryAfter: 30, window: 'w' });
    expect(await pool.take(true, spent)).toEqual({ ok: false, reason: 'upstream_budget', retryAfter: 30 });
  });

  it('takes back a read lease’s unused permits: into the pool while their lease lasts, else to the governor', async () => {
    let now = 1_000_000;
    const clock = { now: () => now, later: () => () => undefined };
    const pool = new PermitPool(clock);
    let granted = 0;
    const acquire = async (want: number) => {
      granted += want;
      return { granted: want, expiresAt: now + 3_000, retryAfter: 0, window: 'w1' };
    };
    const released: unknown[] = [];
    const release = async (returned: unknown) => {
      released.push(returned);
    };
    const lent = await pool.takeUpTo(8, acquire, release);
    expect(lent).toEqual({ ok: true, count: 8, window: 'w1' });
    expect(granted).toBe(8);
    // Five come back while the pool's lease of w1 lasts: the next takes need no refill.
    pool.giveBackLent({ window: 'w1', count: 5 });
    for (let i = 0; i < 5; i++) expect(await pool.take(false, acquire)).toEqual({ ok: true, taken: true });
    expect(granted).toBe(8);
    expect(released).toEqual([]);
    // Another window's, or after the pool's lease ended: to the governor, which decides.
    pool.giveBackLent({ window: 'w0', count: 2 });
    now += 3_000;
    pool.giveBackLent({ window: 'w1', count: 3 });
    pool.giveBackLent({ window: 'w1', count: 0 });
    expect(released).toEqual([
      { window: 'w0', count: 2 },
      { window: 'w1', count: 3 },
    ]);
  });
});
