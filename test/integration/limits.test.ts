import { beforeAll, describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError, tenantStateCalls, watchUpstream } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { testGateway } from '../helpers/gateway';

type Limits = { -readonly [K in keyof (typeof TENANTS)['acme']['limits']]: number };

/** The first of `responses` with `status` (fails the test when none has it). */
function firstWith<R extends { status: number }>(responses: (R | undefined)[], status: number): R {
  const found = responses.find((r) => r?.status === status);
  if (!found) throw new Error(`no response with status ${status}`);
  return found;
}

const withLimits = (limits: Partial<Limits>) => ({
  ...TENANTS.acme,
  limits: { ...TENANTS.acme.limits, ...limits },
});

describe('a 200-way race on one user, beside another tenant', () => {
  // 20 a minute is one token per 3 s: at most one more can refill during the race.
  const gw = testGateway({
    tenants: {
      small: withLimits({ burst: 25, requests_per_minute: 20 }),
      other: withLimits({ burst: 100, requests_per_minute: 600 }),
    },
  });
  let race: Response[] = [];
  let others: Response[] = [];
  let refill = 0;

  beforeAll(async () => {
    const alice = await gw.caller('small');
    const bob = await gw.caller('other');
    const started = Date.now();
    [race, others] = await Promise.all([
      Promise.all(Array.from({ length: 200 }, () => alice.request('GET', '/v1/usage'))),
      Promise.all(Array.from({ length: 50 }, () => bob.request('GET', '/v1/usage'))),
    ]);
    refill = Math.floor(((Date.now() - started) / 60_000) * 20);
  });

  it('admits exactly the bucket and refuses the rest with 429', () => {
    const admitted = race.filter((r) => r.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(25);
    expect(admitted).toBeLessThanOrEqual(25 + refill);
    expect(race.filter((r) => r.status === 429)).toHaveLength(200 - admitted);
  });

  it('leaves the other tenant unaffected', () => {
    expect(others.every((r) => r.status === 200)).toBe(true);
  });

  it('tells a refused caller when to retry and what is left, in the RateLimit headers', () => {
    const refused = race.find((r) => r.status === 429);
    expect(refused?.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(refused?.headers.get('ratelimit')).toMatch(/^"user";r=0;t=\d+, "tenant";r=\d+;t=\d+$/);
    expect(refused?.headers.get('ratelimit-policy')).toBe('"user";q=25;w=75, "tenant";q=1000;w=10');
  });

  it('refuses with the contract error body, RATE_LIMITED', async () => {
    await expectError(firstWith(race, 429), 429, 'RATE_LIMITED');
  });

  it('shows the other tenant its own buckets only', () => {
    expect(others[0]?.headers.get('ratelimit-policy')).toBe('"user";q=100;w=10, "tenant";q=1000;w=10');
  });
});

describe('request rate limits', () => {
  it('caps all of a tenant’s users together with tenant_requests_per_minute', async () => {
    const gw = testGateway({ tenants: { t: withLimits({ burst: 5, tenant_requests_per_minute: 60 }) } });
    // The tenant bucket holds max(burst, 60 / 6) = 10.
    const users = await Promise.all(Array.from({ length: 6 }, () => gw.caller('t')));
    const results = await Promise.all(
      users.flatMap((u) => [1, 2, 3].map(() => u.request('GET', '/v1/usage'))),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    const body = await expectError(firstWith(results, 429), 429, 'RATE_LIMITED');
    expect(body.detail).toMatch(/tenant/);
  });

  it('spends no quota on requests refused with 401', async () => {
    const gw = testGateway({ tenants: { t: withLimits({ burst: 3, requests_per_minute: 1 }) } });
    const alice = await gw.caller('t');
    const bad = await Promise.all(
      Array.from({ length: 20 }, () => alice.request('GET', '/v1/usage', { auth: 'x.y.z' })),
    );
    expect(bad.every((r) => r.status === 401)).toBe(true);
    const first = await alice.request('GET', '/v1/usage');
    expect(first.headers.get('ratelimit')).toMatch(/^"user";r=2;/);
  });

  it('refuses a user hammering a costly route past their rate without asking the tenant state each time, and creates nothing', async () => {
    // One a minute: nothing refills during the test; a refusal is remembered 250 ms.
    const gw = testGateway({ tenants: { t: withLimits({ burst: 2, requests_per_minute: 1 }) } });
    const alice = await gw.caller('t');
    await newThread(alice);
    await newThread(alice);
    const watch = await watchUpstream(gw.emulator);
    const refusals: Response[] = [];
    const calls = await tenantStateCalls(async () => {
      const started = Date.now();
      // As many creations as fit in the remembered refusal (at least 5).
      while (refusals.length < 5 || (Date.now() - started < 200 && refusals.length < 40)) {
        refusals.push(await alice.request('POST', '/v1/threads', { json: {} }));
      }
    });
    for (const res of refusals) {
      await expectError(res, 429, 'RATE_LIMITED');
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(res.headers.get('ratelimit')).toMatch(/^"user";r=0;/);
    }
    // The first refused creation asked; the rest were refused from its answer. Nothing was
    // reserved (no release to send back) and the upstream created nothing.
    expect(calls.filter((call) => call === 'admit').length).toBeLessThan(refusals.length / 2);
    expect(calls.filter((call) => call === 'releaseThread')).toEqual([]);
    await watch.expectNone();
    // Another user of the tenant is not refused by alice's memory.
    const bob = await gw.caller('t');
    expect((await bob.request('POST', '/v1/threads', { json: {} })).status).toBe(201);
  });

  it('carries RateLimit headers on successes and on errors of limited routes', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    for (const res of [
      await alice.request('GET', '/v1/threads'),
      await alice.request('GET', '/v1/threads/nope'),
      await alice.request('POST', '/v1/threads', { json: { bogus: 1 } }),
    ]) {
      expect(res.headers.get('ratelimit-policy')).toMatch(/^"user";q=\d+;w=\d+, "tenant";q=\d+;w=\d+$/);
      expect(res.headers.get('ratelimit')).toMatch(/^"user";r=\d+;t=\d+, "tenant";r=\d+;t=\d+$/);
    }
  });
});

describe('the upstream governor, with three competing tenants', () => {
  const gw = testGateway({
    tenants: {
      a: withLimits({ burst: 200, requests_per_minute: 6000 }),
      b: withLimits({ burst: 200, requests_per_minute: 6000 }),
      c: withLimits({ burst: 200, requests_per_minute: 6000 }),
    },
  });
  let results: number[][] = [];

  beforeAll(async () => {
    await gw.emulator.configure({ rate_limit_per_minute: 60 });
    const callers = await Promise.all(['a', 'b', 'c'].map((t) => gw.caller(t)));
    // Each tenant asks for far more than a third of the budget, in waves, all at once.
    results = await Promise.all(
      callers.map(async (caller) => {
        const statuses: number[] = [];
        for (let wave = 0; wave < 5; wave++) {
          const wave10 = await Promise.all(
            Array.from({ length: 10 }, () => caller.request('GET', '/v1/assistants')),
          );
          statuses.push(...wave10.map((r) => r.status));
        }
        return statuses;
      }),
    );
  });

  const served = () => results.map((statuses) => statuses.filter((s) => s === 200).length);

  it('never lets them exceed the upstream limit: the rest is refused with 503', async () => {
    expect((await gw.emulator.stats()).rate_limited).toBe(0);
    const refused = results.flat().filter((s) => s === 503).length;
    expect(served().reduce((a, b) => a + b, 0) + refused).toBe(150);
  });

  it('splits the upstream budget fairly between them', () => {
    // Budget 57 (60 less a margin for logins): a fair split is 19 each; allow a little slack
    // for permits a tenant's batch still held when the budget ran out.
    for (const n of served()) expect(n).toBeGreaterThanOrEqual(15);
    const refused = results.flat().filter((s) => s === 503).length;
    console.log(`governor split: ${served().join(' / ')} served, ${refused} refused with 503`);
  });
});

describe('the upstream governor after a 429', () => {
  it('blocks every tenant only as long as a 429’s short Retry-After says, not until the window’s end', async () => {
    const gw = testGateway({ tenants: { a: TENANTS.acme, b: TENANTS.acme } });
    const alice = await gw.caller('a');
    const bob = await gw.caller('b');
    const threadId = await newThread(alice);
    // One 429 with Retry-After: 2 on a messages read; the window has plenty left.
    await gw.emulator.configure({
      status_overrides: [
        {
          method: 'GET',
          path: `/threads/${threadId}/messages`,
          status: 429,
          headers: { 'Retry-After': '2' },
          times: 1,
        },
      ],
    });
    const read = await alice.request('GET', `/v1/threads/${threadId}/messages`);
    expect(read.status).toBe(200); // the client honoured Retry-After and retried
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = (await gw.emulator.stats()).requests['POST /threads/'] ?? 0;
    // Another tenant, whose pool holds no permit: it must ask the governor, which has recovered.
    const created = await bob.request('POST', '/v1/threads', { json: {} });
    expect(created.status).toBe(201);
    expect((await gw.emulator.stats()).requests['POST /threads/']).toBe(before + 1);
  });
});

describe('the upstream governor', () => {
  it('answers 503 UPSTREAM_RATE_LIMITED with an honest Retry-After once the budget is spent', async () => {
    const gw = testGateway();
    await gw.emulator.configure({ rate_limit_per_minute: 5 });
    const alice = await gw.caller('acme');
    let last: Response | undefined;
    for (let i = 0; i < 10; i++) {
      last = await alice.request('GET', '/v1/assistants');
      if (last.status === 503) break;
    }
    expect(last?.status).toBe(503);
    const retryAfter = Number(last?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await expectError(firstWith([last], 503), 503, 'UPSTREAM_RATE_LIMITED');
    expect((await gw.emulator.stats()).rate_limited).toBe(0);
  });
});
