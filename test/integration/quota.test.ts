import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectAuthenticatedHeaders, expectError, watchUpstream } from '../helpers/assertions';
import { newFile, newThread, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** acme's `threads_per_user` in the test fixtures. */
const PER_USER = 5;

const create = (caller: Caller) => caller.edge.v1.threads.$post({ json: {} });

/** Creates `n` threads as `caller` (each 201 expected); resolves to their ids. */
async function fill(caller: Caller, n = PER_USER): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1) ids.push(await newThread(caller));
  return ids;
}

const remove = (caller: Caller, thread_id: string) =>
  caller.edge.v1.threads[':thread_id'].$delete({ param: { thread_id } });

describe('usage', () => {
  const gw = testGateway();

  it("reports the caller's limits and counts without an upstream call", async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.edge.v1.usage.$get();
    expect(res.status).toBe(200);
    expectAuthenticatedHeaders(res);
    expect(await res.json()).toMatchObject({
      tenant: gw.ids.acme,
      user: alice.user,
      limits: { threads_per_user: PER_USER, threads_total: 50 },
      threads: { yours: 0, remaining: PER_USER },
      files: { yours: 0, max_bytes: 65536, types: ['application/pdf', 'text/plain', 'image/png'] },
    });
    await watch.expectNone();
  });

  it("counts the caller's creates, and the tenant's total with them", async () => {
    const alice = await gw.caller('acme');
    const initial = await usage(alice);
    await fill(alice, 2);
    const afterCreate = await usage(alice);
    expect(afterCreate.threads).toMatchObject({ yours: 2, remaining: PER_USER - 2 });
    expect(afterCreate.threads.tenant_total).toBe(initial.threads.tenant_total + 2);
  });

  it('counts a deleted thread out', async () => {
    const alice = await gw.caller('acme');
    const [first] = await fill(alice, 2);
    expect((await remove(alice, first ?? '')).status).toBe(204);
    expect((await usage(alice)).threads).toMatchObject({ yours: 1, remaining: PER_USER - 1 });
  });

  it("counts the caller's uploads", async () => {
    const alice = await gw.caller('acme');
    await newFile(alice);
    expect((await usage(alice)).files.yours).toBe(1);
  });

  it("keeps each user's usage their own", async () => {
    const alice = await gw.caller('acme');
    await fill(alice, 2);
    const bob = await gw.caller('acme');
    expect((await usage(bob)).threads).toMatchObject({ yours: 0, remaining: PER_USER });
  });
});

describe('thread quota', () => {
  it('refuses the sixth thread with 429 QUOTA_EXCEEDED and never calls the upstream for it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    await fill(alice);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    await watch.expectNone();
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(PER_USER);
  });

  it('gives another user of the same tenant a quota of their own', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    await fill(alice);
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    const bob = await gw.caller('acme');
    expect((await create(bob)).status).toBe(201);
  });

  it('sends Retry-After with the thread-quota 429 (contract §5)', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    await fill(alice);
    const res = await create(alice);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('lets exactly threads_per_user of 20 concurrent creates through', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const results = await Promise.all(Array.from({ length: 20 }, () => create(alice)));
    // The client types only the 201; the refusals are typed by `expectError` below.
    const statuses: number[] = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(PER_USER);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - PER_USER);
    for (const res of results.filter((r) => r.status !== 201)) await expectError(res, 429, 'QUOTA_EXCEEDED');
    const created = await Promise.all(results.filter((r) => r.status === 201).map((r) => r.json()));
    expect(new Set(created.map((t) => t.thread_id)).size).toBe(PER_USER);
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(PER_USER);
    expect((await usage(alice)).threads).toMatchObject({ yours: PER_USER, remaining: 0 });
  });

  it('gives the reservation back when the upstream create fails', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    await fill(alice, 1);
    const before = await usage(alice);
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 500, times: 1 }],
    });
    await expectError(await create(alice), 502, 'UPSTREAM_BAD_RESPONSE');
    expect((await usage(alice)).threads).toEqual(before.threads);
  });

  it('counts the next create after a failed one exactly once', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    await fill(alice, 1);
    const before = await usage(alice);
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 500, times: 1 }],
    });
    await expectError(await create(alice), 502, 'UPSTREAM_BAD_RESPONSE');
    expect((await create(alice)).status).toBe(201);
    expect((await usage(alice)).threads.yours).toBe(before.threads.yours + 1);
    const listed = await (await alice.edge.v1.threads.$get({ query: {} })).json();
    expect(listed.threads).toHaveLength(before.threads.yours + 1);
  });

  it('frees quota when a thread is deleted', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const made = await fill(alice);
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    expect((await remove(alice, made[0] ?? '')).status).toBe(204);
    expect((await create(alice)).status).toBe(201);
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
  });

  it('costs no quota for creates refused at the edge', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const bad: unknown[] = [{ nope: 1 }, { assistant_id: 'asst_internal' }, { name: '' }];
    for (let i = 0; i < PER_USER + 1; i += 1) {
      await expectError(
        await alice.request('POST', '/v1/threads', { json: bad[i % bad.length] }),
        400,
        'VALIDATION_ERROR',
        /^(nope|assistant_id|name)$/,
      );
    }
    expect((await usage(alice)).threads).toMatchObject({ yours: 0, remaining: PER_USER });
    await fill(alice);
  });

  it("refuses creates over the tenant's threads_total, whoever asks", async () => {
    const gw = testGateway({
      tenants: { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_total: 2 } } },
    });
    const [alice, bob, carol] = await Promise.all([gw.caller('acme'), gw.caller('acme'), gw.caller('acme')]);
    await newThread(alice);
    await newThread(bob);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await create(carol), 429, 'QUOTA_EXCEEDED');
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    await watch.expectNone();
    expect((await usage(carol)).threads).toMatchObject({ yours: 0, remaining: 0, tenant_remaining: 0 });
  });
});
