import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { READ_LEASE_MS } from '../../src/limits/read-leases';
import { TENANTS } from '../fixtures/tenants';
import { operator } from '../helpers/admin';
import { expectError, tenantStateCalls, watchUpstream } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { JsonObject, parseText } from '../helpers/json';

// Reads of a user's own thread are admitted in the isolate (services/local-reads.ts):
// these tests show what that may and may not change. The rate, ownership and blocks stay
// the contract's; only the round trip to the tenant's state goes.

/** The `limiter` field of each access-log line written while `body` runs. */
async function limiterOutcomes(body: () => Promise<void>): Promise<unknown[]> {
  const outcomes: unknown[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    const parsed = parseText(String(line), JsonObject);
    if (parsed.msg === 'request') outcomes.push(parsed.limiter);
  });
  try {
    await body();
  } finally {
    spy.mockRestore();
  }
  return outcomes;
}

const read = (caller: Caller, threadId: string) => caller.request('GET', `/v1/threads/${threadId}`);

const withLimits = (limits: Partial<Record<keyof (typeof TENANTS)['acme']['limits'], number>>) => ({
  ...TENANTS.acme,
  limits: { ...TENANTS.acme.limits, ...limits },
});

describe('reads admitted in the isolate', () => {
  it('serves repeated reads of an own thread without asking the tenant state each time', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    const outcomes = await limiterOutcomes(async () => {
      for (let i = 0; i < 12; i++) expect((await read(alice, thread)).status).toBe(200);
    });
    // The first read asks (with the owner check), later ones spend the lease it took.
    expect(outcomes[0]).toBe('admitted');
    expect(outcomes.filter((outcome) => outcome === 'local').length).toBeGreaterThanOrEqual(6);
    expect(outcomes.every((outcome) => outcome === 'local' || outcome === 'admitted')).toBe(true);
  });

  it('carries the RateLimit pair on a read from the lease', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 4; i++) await read(alice, thread);
    const res = await read(alice, thread);
    expect(res.headers.get('ratelimit')).toMatch(/^"user";r=\d+;t=\d+, "tenant";r=\d+;t=\d+$/);
    expect(res.headers.get('ratelimit-policy')).toContain('"user";q=200');
  });

  it('admits exactly the user’s burst to sequential reads, and calls the upstream only for those', async () => {
    // One a minute: nothing refills during the test.
    const gw = testGateway({ tenants: { slow: withLimits({ burst: 12, requests_per_minute: 1 }) } });
    const alice = await gw.caller('slow');
    const thread = await newThread(alice); // takes one token
    const watch = await watchUpstream(gw.emulator);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await read(alice, thread)).status);
    expect(statuses).toEqual([...Array(11).fill(200), ...Array(4).fill(429)]);
    const upstreamReads = (await watch.requests()).filter(
      (r) => r.method === 'GET' && r.path.includes(thread),
    );
    expect(upstreamReads).toHaveLength(11);
    await expectError(await read(alice, thread), 429, 'RATE_LIMITED');
  });

  it('gives an expired lease’s unused tokens back with the next ask: the burst is all the user’s', async () => {
    const gw = testGateway({ tenants: { slow: withLimits({ burst: 12, requests_per_minute: 1 }) } });
    const alice = await gw.caller('slow');
    const thread = await newThread(alice); // takes one token
    let served = 0;
    for (let i = 0; i < 3; i++) served += (await read(alice, thread)).status === 200 ? 1 : 0;
    // The lease (and any refill it asked for) now holds tokens nobody spends before it expires.
    await new Promise((resolve) => setTimeout(resolve, READ_LEASE_MS + 200));
    const watch = await watchUpstream(gw.emulator);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await read(alice, thread)).status);
    served += statuses.filter((status) => status === 200).length;
    expect(served).toBe(11);
    expect(statuses.slice(-3)).toEqual([429, 429, 429]);
    const upstreamReads = (await watch.requests()).filter(
      (r) => r.method === 'GET' && r.path.includes(thread),
    );
    expect(upstreamReads).toHaveLength(served - 3);
  });

  it('never admits more than the burst to a race of reads', async () => {
    const gw = testGateway({ tenants: { slow: withLimits({ burst: 12, requests_per_minute: 1 }) } });
    const alice = await gw.caller('slow');
    const thread = await newThread(alice);
    const watch = await watchUpstream(gw.emulator);
    const race = await Promise.all(Array.from({ length: 40 }, () => read(alice, thread)));
    const admitted = race.filter((r) => r.status === 200).length;
    expect(admitted).toBeLessThanOrEqual(11);
    // Tokens a lease held when the race ended are the only ones it may not have used.
    expect(admitted).toBeGreaterThanOrEqual(11 - 3);
    expect(race.filter((r) => r.status === 429)).toHaveLength(40 - admitted);
    const upstreamReads = (await watch.requests()).filter(
      (r) => r.method === 'GET' && r.path.includes(thread),
    );
    expect(upstreamReads).toHaveLength(admitted);
  });

  it('charges a read of someone else’s thread one token, not a lease’s worth', async () => {
    const gw = testGateway({ tenants: { slow: withLimits({ burst: 40, requests_per_minute: 1 }) } });
    const [alice, mallory] = [await gw.caller('slow'), await gw.caller('slow')];
    const theirs = await newThread(alice);
    const own = await newThread(mallory); // one token
    let served = 0;
    // A few reads first, so that Mallory's next ask is for a lease of several reads.
    for (let i = 0; i < 4; i++) served += (await read(mallory, own)).status === 200 ? 1 : 0;
    for (let i = 0; i < 5; i++) await expectError(await read(mallory, theirs), 404, 'NOT_FOUND');
    for (let i = 0; i < 60; i++) {
      const status = (await read(mallory, own)).status;
      if (status === 429) break;
      served += status === 200 ? 1 : 0;
    }
    expect(served).toBe(40 - 1 - 5);
  });

  it('never serves another user’s thread, even after its owner read it from this isolate', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const mallory = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 5; i++) expect((await read(alice, thread)).status).toBe(200);
    // Mallory has a lease of her own too.
    const own = await newThread(mallory);
    for (let i = 0; i < 5; i++) expect((await read(mallory, own)).status).toBe(200);
    const watch = await watchUpstream(gw.emulator);
    for (let i = 0; i < 3; i++) {
      await expectError(await read(mallory, thread), 404, 'NOT_FOUND');
      await expectError(await mallory.request('GET', `/v1/threads/${thread}/messages`), 404, 'NOT_FOUND');
    }
    await watch.expectNone();
  });

  it('answers 404 for a thread its owner deleted', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 5; i++) expect((await read(alice, thread)).status).toBe(200);
    expect((await alice.request('DELETE', `/v1/threads/${thread}`)).status).toBe(204);
    await expectError(await read(alice, thread), 404, 'NOT_FOUND');
    await expectError(await alice.request('GET', `/v1/threads/${thread}/messages`), 404, 'NOT_FOUND');
  });

  it('refuses a user blocked elsewhere while their lease is live within the contract’s 5 s, and lets them back in', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 6; i++) expect((await read(alice, thread)).status).toBe(200);
    // Blocked from another isolate: this one hears nothing, and learns it at its next ask.
    const state = env.TENANT_STATE.getByName(gw.ids.acme ?? '');
    expect(await state.block(alice.user)).toBe(true);
    const deadline = Date.now() + 5_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await read(alice, thread)).status;
      if (status === 403) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(403);
    // Once refused, refused on every read (the lease is gone), and nothing reaches the upstream.
    const watch = await watchUpstream(gw.emulator);
    for (let i = 0; i < 5; i++) await expectError(await read(alice, thread), 403, 'USER_BLOCKED');
    await watch.expectNone();
    expect(await state.unblock(alice.user)).toBe(true);
    // Let back in within the same 5 s (a refusal is remembered in the isolate for a moment).
    const back = Date.now() + 5_000;
    while (Date.now() < back && status !== 200) {
      status = (await read(alice, thread)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
  });

  it('refuses a blocked user’s next read at once after an exact admission here was refused for the block', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 6; i++) expect((await read(alice, thread)).status).toBe(200);
    // Blocked from another isolate; a creation here asks the object and is refused.
    expect(await env.TENANT_STATE.getByName(gw.ids.acme ?? '').block(alice.user)).toBe(true);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await alice.request('POST', '/v1/threads', { json: {} }), 403, 'USER_BLOCKED');
    // The lease still held tokens: dropped with that refusal, not spent by a blocked user.
    await expectError(await read(alice, thread), 403, 'USER_BLOCKED');
    await watch.expectNone();
  });

  it('refuses a user the operator blocks through this isolate at their next read, and lets them back in at once', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 6; i++) expect((await read(alice, thread)).status).toBe(200);
    const watch = await watchUpstream(gw.emulator);
    const block = `/tenants/${gw.ids.acme}/users/${alice.user}/block`;
    expect((await admin.request('POST', block)).status).toBe(200);
    // The lease still held tokens: dropped with the block, so the very next read is refused.
    await expectError(await read(alice, thread), 403, 'USER_BLOCKED');
    await expectError(await alice.request('POST', '/v1/threads', { json: {} }), 403, 'USER_BLOCKED');
    await watch.expectNone();
    // The refusals are remembered, but the unblock forgets them here: served at once.
    expect((await admin.request('DELETE', block)).status).toBe(200);
    expect((await read(alice, thread)).status).toBe(200);
  });

  it('refuses a user hammering past their rate without asking the tenant state for each read', async () => {
    // One a minute: nothing refills during the test; a refusal is remembered 250 ms.
    const gw = testGateway({ tenants: { slow: withLimits({ burst: 4, requests_per_minute: 1 }) } });
    const alice = await gw.caller('slow');
    const thread = await newThread(alice); // takes one token
    for (let i = 0; i < 3; i++) expect((await read(alice, thread)).status).toBe(200);
    const watch = await watchUpstream(gw.emulator);
    const refusals: Response[] = [];
    const calls = await tenantStateCalls(async () => {
      const started = Date.now();
      // As many reads as fit in the remembered refusal (at least 5).
      while (refusals.length < 5 || (Date.now() - started < 200 && refusals.length < 40)) {
        refusals.push(await read(alice, thread));
      }
    });
    for (const res of refusals) {
      await expectError(res, 429, 'RATE_LIMITED');
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(res.headers.get('ratelimit')).toMatch(/^"user";r=0;/);
    }
    // The first refused read asked; the rest were refused from its answer.
    expect(calls.filter((call) => call === 'admit').length).toBeLessThan(refusals.length / 2);
    await watch.expectNone();
  });

  it('refuses every read of a tenant deleted while its users hold leases, and calls no upstream', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    for (let i = 0; i < 6; i++) expect((await read(alice, thread)).status).toBe(200);
    expect((await admin.request('DELETE', `/tenants/${gw.ids.acme}`)).status).toBe(204);
    // Within the contract's 30 s; in this isolate the admin write drops its cached entry at once.
    const watch = await watchUpstream(gw.emulator);
    for (let i = 0; i < 5; i++) await expectError(await read(alice, thread), 401, 'UNAUTHORIZED');
    await watch.expectNone();
  });
});

describe('reads when the tenant’s state object fails', () => {
  it('is 503 LIMITER_UNAVAILABLE with Retry-After, and calls no upstream, when a read has to ask', async () => {
    const gw = testGateway();
    // A user with no lease and an unknown thread: the read must ask the tenant's object.
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    const bob = await gw.caller('acme');
    const namespace = env.TENANT_STATE;
    const real = namespace.getByName.bind(namespace);
    const getByName = vi.spyOn(namespace, 'getByName').mockImplementation((name, options) => {
      const stub = real(name, options);
      return new Proxy(stub, {
        get: (target, key) =>
          key === 'admit' ? () => Promise.reject(new Error('object overloaded')) : Reflect.get(target, key),
      });
    });
    const watch = await watchUpstream(gw.emulator);
    try {
      const res = await read(bob, thread);
      await expectError(res, 503, 'LIMITER_UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('5');
      // Her own thread, known here since she created it; but no lease yet: refused the same way.
      await expectError(await read(alice, thread), 503, 'LIMITER_UNAVAILABLE');
      expect(getByName).toHaveBeenCalled();
    } finally {
      getByName.mockRestore();
    }
    await watch.expectNoneFor(thread);
    // The object back: the same read is answered (the refusal held nothing).
    expect((await read(alice, thread)).status).toBe(200);
  });
});
