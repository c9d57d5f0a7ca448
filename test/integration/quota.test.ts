import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectAuthenticatedHeaders, expectError, watchUpstream } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';

/** acme's `threads_per_user` in the test fixtures. */
const PER_USER = 5;

interface Usage {
  tenant: string;
  user: string;
  limits: Record<string, number>;
  threads: { yours: number; remaining: number; tenant_total: number; tenant_remaining: number };
  files: { yours: number; max_bytes: number; types: string[] };
}

async function usage(caller: Caller): Promise<Usage> {
  const res = await caller.request('GET', '/v1/usage');
  expect(res.status).toBe(200);
  expectAuthenticatedHeaders(res);
  return (await res.json()) as Usage;
}

async function create(caller: Caller): Promise<Response> {
  return caller.request('POST', '/v1/threads', { json: {} });
}

async function creates(gw: ReturnType<typeof testGateway>): Promise<number> {
  return (await gw.emulator.stats()).requests['POST /threads/'] ?? 0;
}

describe('usage', () => {
  const gw = testGateway();

  it("reports the caller's limits and counts, and follows creates, deletes and uploads", async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const initial = await usage(alice);
    await watch.expectNone();
    expect(initial).toMatchObject({
      tenant: gw.ids.acme,
      user: alice.user,
      limits: { threads_per_user: PER_USER, threads_total: 50 },
      threads: { yours: 0, remaining: PER_USER },
      files: { yours: 0, max_bytes: 65536, types: ['application/pdf', 'text/plain', 'image/png'] },
    });

    const first = (await (await create(alice)).json()) as { thread_id: string };
    await create(alice);
    const afterCreate = await usage(alice);
    expect(afterCreate.threads).toMatchObject({ yours: 2, remaining: PER_USER - 2 });
    expect(afterCreate.threads.tenant_total).toBe(initial.threads.tenant_total + 2);

    expect((await alice.request('DELETE', `/v1/threads/${first.thread_id}`)).status).toBe(204);
    expect((await usage(alice)).threads).toMatchObject({ yours: 1, remaining: PER_USER - 1 });

    const form = new FormData();
    form.append('file', new File(['x'], 'x.txt', { type: 'text/plain' }));
    expect((await alice.request('POST', '/v1/files', { body: form })).status).toBe(201);
    expect((await usage(alice)).files.yours).toBe(1);

    // Another user's usage is their own.
    const bob = await gw.caller('acme');
    expect((await usage(bob)).threads).toMatchObject({ yours: 0, remaining: PER_USER });
  });
});

describe('thread quota', () => {
  it('refuses the sixth thread with 429 QUOTA_EXCEEDED and never calls the upstream for it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    for (let i = 0; i < PER_USER; i += 1) expect((await create(alice)).status).toBe(201);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    await watch.expectNone();
    expect(await creates(gw)).toBe(PER_USER);

    // Another user of the same tenant has a quota of their own.
    const bob = await gw.caller('acme');
    expect((await create(bob)).status).toBe(201);
  });

  it('sends Retry-After with the thread-quota 429 (contract §5)', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    for (let i = 0; i < PER_USER; i += 1) expect((await create(alice)).status).toBe(201);
    const res = await create(alice);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('lets exactly threads_per_user of 20 concurrent creates through', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const results = await Promise.all(Array.from({ length: 20 }, () => create(alice)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(PER_USER);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - PER_USER);
    for (const res of results.filter((r) => r.status === 429)) await expectError(res, 429, 'QUOTA_EXCEEDED');
    const ids = await Promise.all(results.filter((r) => r.status === 201).map((r) => r.json()));
    expect(new Set(ids.map((t) => (t as { thread_id: string }).thread_id)).size).toBe(PER_USER);
    expect(await creates(gw)).toBe(PER_USER);
    expect((await usage(alice)).threads).toMatchObject({ yours: PER_USER, remaining: 0 });
  });

  it('gives the reservation back when the upstream create fails', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    expect((await create(alice)).status).toBe(201);
    const before = await usage(alice);

    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 500, times: 1 }],
    });
    await expectError(await create(alice), 502, 'UPSTREAM_BAD_RESPONSE');
    expect((await usage(alice)).threads).toEqual(before.threads);

    expect((await create(alice)).status).toBe(201);
    expect((await usage(alice)).threads.yours).toBe(before.threads.yours + 1);
    const listed = (await (await alice.request('GET', '/v1/threads')).json()) as { threads: unknown[] };
    expect(listed.threads).toHaveLength(before.threads.yours + 1);
  });

  it('frees quota when a thread is deleted', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const made: string[] = [];
    for (let i = 0; i < PER_USER; i += 1) {
      made.push(((await (await create(alice)).json()) as { thread_id: string }).thread_id);
    }
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    expect((await alice.request('DELETE', `/v1/threads/${made[0]}`)).status).toBe(204);
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
    for (let i = 0; i < PER_USER; i += 1) expect((await create(alice)).status).toBe(201);
  });

  it("refuses creates over the tenant's threads_total, whoever asks", async () => {
    const gw = testGateway({
      tenants: { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_total: 2 } } },
    });
    const [alice, bob, carol] = await Promise.all([gw.caller('acme'), gw.caller('acme'), gw.caller('acme')]);
    expect((await create(alice)).status).toBe(201);
    expect((await create(bob)).status).toBe(201);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await create(carol), 429, 'QUOTA_EXCEEDED');
    await expectError(await create(alice), 429, 'QUOTA_EXCEEDED');
    await watch.expectNone();
    expect((await usage(carol)).threads).toMatchObject({ yours: 0, remaining: 0, tenant_remaining: 0 });
  });
});
