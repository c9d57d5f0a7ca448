import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TENANTS } from '../fixtures/tenants';
import { expectError, watchUpstream } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';
import { eventsOf, SseReader } from '../helpers/sse';

const Budget = z.object({ limit: z.number(), used: z.number(), remaining: z.number(), reset_in: z.number() });
const UsageBody = z.object({
  budgets: z.object({
    threads_per_user_per_day: Budget,
    threads_per_day: Budget,
    threads_per_month: Budget,
    runs_per_user_per_day: Budget,
  }),
  streams: z.object({ active: z.number(), max: z.number(), yours: z.number(), max_yours: z.number() }),
});
const ThreadBody = z.object({ thread_id: z.string() });

const tenant = (limits: Record<string, number>) => ({
  ...TENANTS.acme,
  limits: { ...TENANTS.acme.limits, threads_per_user: 1000, threads_total: 10_000, ...limits },
});

const secondsToUtcMidnight = () => {
  const now = new Date();
  return (Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime()) / 1000;
};

async function usage(caller: Caller) {
  return UsageBody.parse(await (await caller.request('GET', '/v1/usage')).json());
}

async function createThread(caller: Caller) {
  return caller.request('POST', '/v1/threads', { json: {} });
}

async function createAndDelete(caller: Caller): Promise<Response> {
  const created = await createThread(caller);
  if (created.status !== 201) return created;
  const { thread_id } = ThreadBody.parse(await created.json());
  expect((await caller.request('DELETE', `/v1/threads/${thread_id}`)).status).toBe(204);
  return created;
}

const upstreamCreates = async (gw: ReturnType<typeof testGateway>) =>
  (await gw.emulator.stats()).requests['POST /threads/'] ?? 0;

describe('thread creation budgets', () => {
  it('count creations, not threads: a create/delete loop stops at the day budget', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 3 }) } });
    const alice = await gw.caller('t');
    for (let i = 0; i < 3; i++) expect((await createAndDelete(alice)).status).toBe(201);
    const refused = await createThread(alice);
    const retryAfter = Number(refused.headers.get('retry-after'));
    await expectError(refused, 429, 'BUDGET_EXCEEDED');
    expect(retryAfter).toBeGreaterThan(0);
    expect(Math.abs(retryAfter - secondsToUtcMidnight())).toBeLessThanOrEqual(5);
    expect(await upstreamCreates(gw)).toBe(3);
  });

  it('is per user: another user of the tenant still creates', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 1 }) } });
    const [alice, bob] = [await gw.caller('t'), await gw.caller('t')];
    expect((await createThread(alice)).status).toBe(201);
    await expectError(await createThread(alice), 429, 'BUDGET_EXCEEDED');
    expect((await createThread(bob)).status).toBe(201);
  });

  it('admits exactly the tenant day budget out of 200 concurrent creations', async () => {
    const gw = testGateway({
      tenants: { t: tenant({ threads_per_day: 7, tenant_requests_per_minute: 100_000 }) },
    });
    const callers = await Promise.all(Array.from({ length: 200 }, () => gw.caller('t')));
    const statuses = await Promise.all(callers.map(async (c) => (await createThread(c)).status));
    expect(statuses.filter((s) => s === 201)).toHaveLength(7);
    expect(statuses.filter((s) => s === 429)).toHaveLength(193);
    expect(await upstreamCreates(gw)).toBe(7);
  });

  it('shows what is left in GET /v1/usage', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 4, threads_per_month: 9 }) } });
    const alice = await gw.caller('t');
    await createAndDelete(alice);
    const { budgets } = await usage(alice);
    expect(budgets.threads_per_user_per_day).toMatchObject({ limit: 4, used: 1, remaining: 3 });
    expect(budgets.threads_per_month).toMatchObject({ limit: 9, used: 1, remaining: 8 });
    expect(Math.abs(budgets.threads_per_user_per_day.reset_in - secondsToUtcMidnight())).toBeLessThanOrEqual(
      5,
    );
  });

  it('gives the unit back when the upstream refused the creation', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 1 }) } });
    const alice = await gw.caller('t');
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 500, times: 1 }],
    });
    await expectError(await createThread(alice), 502, 'UPSTREAM_BAD_RESPONSE');
    expect((await usage(alice)).budgets.threads_per_user_per_day.used).toBe(0);
    expect((await createThread(alice)).status).toBe(201);
  });

  it('spends nothing on a request refused for its body or its assistant', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 1 }) } });
    const alice = await gw.caller('t');
    const watch = await watchUpstream(gw.emulator);
    await expectError(
      await alice.request('POST', '/v1/threads', { json: { bogus: 1 } }),
      400,
      'VALIDATION_ERROR',
      'bogus',
    );
    await expectError(
      await alice.request('POST', '/v1/threads', { json: { assistant_id: 'asst_internal' } }),
      400,
      'VALIDATION_ERROR',
      'assistant_id',
    );
    expect((await watch.requests()).filter((r) => r.path.startsWith('/threads'))).toEqual([]);
    expect((await usage(alice)).budgets.threads_per_user_per_day.used).toBe(0);
  });

  it('refuses a bad assistant as input even at the budget: 400, not 429, and nothing upstream', async () => {
    const gw = testGateway({ tenants: { t: tenant({ threads_per_user_per_day: 1 }) } });
    const alice = await gw.caller('t');
    expect((await createThread(alice)).status).toBe(201);
    const watch = await watchUpstream(gw.emulator);
    await expectError(
      await alice.request('POST', '/v1/threads', { json: { assistant_id: 'asst_internal' } }),
      400,
      'VALIDATION_ERROR',
      'assistant_id',
    );
    await watch.expectNone();
    await expectError(await createThread(alice), 429, 'BUDGET_EXCEEDED');
  });
});

describe('run budget and per-user streams', () => {
  it('counts runs per user per day and refuses the one over with BUDGET_EXCEEDED', async () => {
    const gw = testGateway({ tenants: { t: tenant({ runs_per_user_per_day: 2 }) } });
    const alice = await gw.caller('t');
    const { thread_id } = ThreadBody.parse(await (await createThread(alice)).json());
    const run = () =>
      alice.request('POST', `/v1/threads/${thread_id}/run`, { json: { message: 'hi', stream: false } });
    expect((await run()).status).toBe(200);
    expect((await run()).status).toBe(200);
    await expectError(await run(), 429, 'BUDGET_EXCEEDED');
    expect((await gw.emulator.stats()).runs).toBe(2);
  });

  it('gives the run unit and the slot back when the upstream refused the run', async () => {
    const gw = testGateway({ tenants: { t: tenant({ runs_per_user_per_day: 1 }) } });
    const alice = await gw.caller('t');
    const { thread_id } = ThreadBody.parse(await (await createThread(alice)).json());
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: `/threads/${thread_id}/run`, status: 503, times: 1 }],
    });
    const run = () =>
      alice.request('POST', `/v1/threads/${thread_id}/run`, { json: { message: 'hi', stream: false } });
    await expectError(await run(), 503, 'UPSTREAM_UNAVAILABLE');
    const after = await usage(alice);
    expect(after.budgets.runs_per_user_per_day.used).toBe(0);
    expect(after.streams.yours).toBe(0);
    expect((await run()).status).toBe(200);
  });

  it('gives the run unit back when the upstream refused the run after its stream began', async () => {
    // A 50 ms ping makes a 50 ms header grace: the 300 ms refusal comes after the caller's 200.
    const gw = testGateway({
      tenants: { t: tenant({ runs_per_user_per_day: 1 }) },
      bindings: { STREAM_PING_MS: '50' },
    });
    const alice = await gw.caller('t');
    const { thread_id } = ThreadBody.parse(await (await createThread(alice)).json());
    await gw.emulator.configure({
      latency_ms: 300,
      status_overrides: [{ method: 'POST', path: `/threads/${thread_id}/run`, status: 503, times: 1 }],
    });
    const run = () => alice.request('POST', `/v1/threads/${thread_id}/run`, { json: { message: 'hi' } });
    const refused = await run();
    expect(refused.status).toBe(200);
    expect(eventsOf(await new SseReader(refused).rest())).toEqual([
      { type: 'error', code: 'UPSTREAM_FAILED', detail: expect.any(String) },
    ]);
    await gw.emulator.configure({ latency_ms: 0 });
    // Given back with the slot at the run's end.
    await expect.poll(async () => (await usage(alice)).streams.yours).toBe(0);
    expect((await usage(alice)).budgets.runs_per_user_per_day.used).toBe(0);
    const served = await run();
    expect(eventsOf(await new SseReader(served).rest()).at(-1)).toEqual({ type: 'done' });
  });

  it('keeps the run unit when the upstream never answered: it may have begun the run', async () => {
    const gw = testGateway({
      tenants: { t: tenant({ runs_per_user_per_day: 1 }) },
      bindings: { STREAM_FIRST_BYTE_TIMEOUT_MS: '150' },
    });
    const alice = await gw.caller('t');
    const { thread_id } = ThreadBody.parse(await (await createThread(alice)).json());
    await gw.emulator.configure({ latency_ms: 600 });
    const run = () => alice.request('POST', `/v1/threads/${thread_id}/run`, { json: { message: 'hi' } });
    // Within the stream's header grace (2 s at the default ping): answered as an HTTP status.
    await expectError(await run(), 504, 'UPSTREAM_TIMEOUT');
    await gw.emulator.configure({ latency_ms: 0 });
    const after = await usage(alice);
    expect(after.budgets.runs_per_user_per_day.used).toBe(1);
    // The slot is not what the upstream spends: it goes back with the failed start.
    expect(after.streams.yours).toBe(0);
    await expectError(await run(), 429, 'BUDGET_EXCEEDED');
  });

  it('caps one user at streams_per_user while the tenant has slots left', async () => {
    const gw = testGateway({ tenants: { t: tenant({ concurrent_streams: 4, streams_per_user: 1 }) } });
    await gw.emulator.configure({ stream: { pace_ms: 200 } });
    const [alice, bob] = [await gw.caller('t'), await gw.caller('t')];
    const threadOf = async (c: Caller) => ThreadBody.parse(await (await createThread(c)).json()).thread_id;
    const [a, a2, b] = [await threadOf(alice), await threadOf(alice), await threadOf(bob)];
    const first = await alice.request('POST', `/v1/threads/${a}/run`, { json: { message: 'one' } });
    expect(first.status).toBe(200);
    // On another thread of hers (on the same one it is the run in progress, 409).
    await expectError(
      await alice.request('POST', `/v1/threads/${a2}/run`, { json: { message: 'two' } }),
      429,
      'TOO_MANY_STREAMS',
    );
    const other = await bob.request('POST', `/v1/threads/${b}/run`, { json: { message: 'three' } });
    expect(other.status).toBe(200);
    expect((await usage(alice)).streams).toMatchObject({ yours: 1, max_yours: 1 });
    await Promise.all([first.body?.cancel(), other.body?.cancel()]);
  });
});

describe('the account guard', () => {
  it('refuses creations and runs for every tenant at the account reserve, reads still pass', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const { thread_id } = ThreadBody.parse(await (await createThread(alice)).json());
    const fresh = testGateway();
    await fresh.emulator.setAccount({ thread_counter: 995, thread_max: 1000 });
    const carol = await fresh.caller('acme');
    const watch = await watchUpstream(fresh.emulator);
    const refused = await createThread(carol);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    // Admitted and counted before the guard refused it: the RateLimit pair says so.
    expect(refused.headers.get('ratelimit')).toMatch(/"user";r=\d+;t=\d+/);
    expect(refused.headers.get('ratelimit-policy')).toBeTruthy();
    await expectError(refused, 503, 'ACCOUNT_EXHAUSTED');
    expect((await watch.requests()).filter((r) => r.path.startsWith('/threads'))).toEqual([]);
    expect((await fresh.caller('globex').then((g) => createThread(g))).status).toBe(503);
    expect((await carol.request('GET', '/v1/threads')).status).toBe(200);
    // The other universe's account has threads to spare: the guard is per account.
    expect((await alice.request('GET', `/v1/threads/${thread_id}`)).status).toBe(200);
    expect((await createThread(alice)).status).toBe(201);
  });
});
