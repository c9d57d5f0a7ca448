import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PURGE_LIMIT } from '../../src/admin/user-threads';
import { operator } from '../helpers/admin';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newThread, unique, usage } from '../helpers/fixtures';
import { type Caller, callerOf, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { eventsOf, SseReader } from '../helpers/sse';

/**
 * `DELETE /admin/v1/tenants/{tenant}/users/{sub}/threads`: the operator deletes an end
 * user's threads (a user who left, the webhook subject nobody can sign in as), upstream
 * first, freeing their quota and cancelling their runs, and nobody else's.
 */
const SECRET = `purge-test-secret-${'p'.repeat(24)}-Xk3m`;
const Deleted = z.strictObject({
  tenant: z.string(),
  user: z.string(),
  deleted: z.number(),
  failed: z.number(),
  remaining: z.number(),
  retry_after: z.number().optional(),
});
const Audit = z.object({
  entries: z.array(z.object({ action: z.string(), subject: z.string().nullable(), detail: z.unknown() })),
});

const Created = z.object({ thread_id: z.string(), created_at: z.string() });

/** A new thread of `caller`, with the creation time its order of deletion goes by. */
async function createdThread(caller: Caller) {
  return parseJson(await caller.request('POST', '/v1/threads', { json: {} }), Created);
}

async function setup(limits: Record<string, number> = {}) {
  const gw = testGateway();
  const admin = operator(gw.overrides);
  const id = `purge-${unique()}`;
  const entry = { project_id: 'proj_acme', session_secret: SECRET, assistants: ['asst_support'], limits };
  expect((await admin.request('PUT', `/tenants/${id}`, { json: entry })).status).toBe(201);
  const user = (sub: string) => callerOf(gw.fetch, id, SECRET, sub);
  const purge = (sub: string) => admin.request('DELETE', `/tenants/${id}/users/${sub}/threads`);
  return { gw, admin, id, user, purge };
}

describe('admin API: deleting a user’s threads', () => {
  it('deletes them upstream, frees their quota, cancels their run, and leaves others’ alone', async () => {
    const { gw, admin, id, user, purge } = await setup({ threads_per_user: 3 });
    await gw.emulator.configure({
      reply: 'one two three four five six seven eight',
      stream: { pace_ms: 300 },
    });
    const [mallory, alice] = [await user('mallory'), await user('alice')];
    const threads = [await newThread(mallory), await newThread(mallory), await newThread(mallory)];
    const hers = await newThread(alice);
    const running = await mallory.request('POST', `/v1/threads/${threads[0]}/run`, {
      json: { message: 'long' },
    });
    const reader = new SseReader(running);
    expect((await reader.nextEvent())?.event).toBe('start');
    const watch = await watchUpstream(gw.emulator);

    const res = await purge('mallory');
    expect(await parseJson(res, Deleted)).toEqual({
      tenant: id,
      user: 'mallory',
      deleted: 3,
      failed: 0,
      remaining: 0,
    });
    const deletes = (await watch.requests()).filter((r) => r.method === 'DELETE').map((r) => r.path);
    expect(deletes.sort()).toEqual(threads.map((t) => `/threads/${t}`).sort());
    // The run was cancelled by the time the purge answered; its slot is back.
    expect(eventsOf(await reader.rest()).at(-1)).toMatchObject({ type: 'error', code: 'RUN_CANCELLED' });
    expect(await usage(mallory)).toMatchObject({ threads: { yours: 0 }, streams: { yours: 0 } });
    for (const thread of threads)
      await expectError(await mallory.request('GET', `/v1/threads/${thread}`), 404, 'NOT_FOUND');
    // The quota is free again, and alice's thread is hers still.
    await newThread(mallory);
    expect((await alice.request('GET', `/v1/threads/${hers}`)).status).toBe(200);
    const audit = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), Audit);
    expect(audit.entries[0]).toMatchObject({
      action: 'user.threads.delete',
      subject: 'mallory',
      detail: { deleted: 3 },
    });
  });

  it('counts each thread once when two purges race for it (the sum of `deleted` is the number deleted)', async () => {
    const { gw, admin, id, user, purge } = await setup({ threads_per_user: 6, threads_per_user_per_day: 6 });
    const mallory = await user('mallory');
    const threads: string[] = [];
    for (let i = 0; i < PURGE_LIMIT; i++) threads.push(await newThread(mallory));
    // A slow upstream, so both calls list the same threads and delete them side by side.
    await gw.emulator.configure({ latency_ms: 40 });
    const answers = await Promise.all([purge('mallory'), purge('mallory')]);
    const [one, two] = await Promise.all(answers.map((res) => parseJson(res, Deleted)));
    expect([one?.failed, two?.failed, one?.remaining, two?.remaining]).toEqual([0, 0, 0, 0]);
    expect((one?.deleted ?? 0) + (two?.deleted ?? 0)).toBe(threads.length);
    // Both did try them (the race happened): more DELETEs reached the upstream than threads.
    const deletes = (await gw.emulator.stats()).request_log.filter((r) => r.method === 'DELETE');
    expect(deletes.length).toBeGreaterThan(threads.length);
    expect(await usage(mallory)).toMatchObject({ threads: { yours: 0 } });
    const audit = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), Audit);
    const audited = audit.entries
      .filter((e) => e.action === 'user.threads.delete')
      .map((e) => z.object({ deleted: z.number() }).parse(e.detail).deleted);
    expect(audited.reduce((sum, n) => sum + n, 0)).toBe(threads.length);
  });

  it('deletes a blocked user’s threads too, taking none of their rate', async () => {
    const { admin, id, user, purge } = await setup({ burst: 2, requests_per_minute: 1 });
    const mallory = await user('mallory');
    await newThread(mallory);
    expect((await admin.request('POST', `/tenants/${id}/users/mallory/block`)).status).toBe(200);
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({ deleted: 1, remaining: 0 });
    expect((await admin.request('DELETE', `/tenants/${id}/users/mallory/block`)).status).toBe(200);
    // One token of the burst of 2 was spent creating the thread: the purge took none.
    expect(await usage(mallory)).toMatchObject({ threads: { yours: 0 } });
  });

  it(`deletes at most ${PURGE_LIMIT} a call, and says how many remain`, async () => {
    const limits = {
      threads_per_user: PURGE_LIMIT + 2,
      threads_per_user_per_day: PURGE_LIMIT + 2,
      burst: 200,
    };
    const { user, purge, admin, id } = await setup(limits);
    const mallory = await user('mallory');
    for (let i = 0; i < PURGE_LIMIT + 2; i++) await newThread(mallory);
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({
      deleted: PURGE_LIMIT,
      remaining: 2,
    });
    // Two are what is left (which two: the newest go first, and threads created within the same
    // instant tie on their creation time).
    expect(await usage(mallory)).toMatchObject({ threads: { yours: 2 } });
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({ deleted: 2, remaining: 0 });
    // Nothing left: nothing deleted, nothing audited.
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({ deleted: 0, remaining: 0 });
    const audit = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), Audit);
    expect(audit.entries.filter((e) => e.action === 'user.threads.delete').map((e) => e.detail)).toEqual([
      { deleted: 2 },
      { deleted: PURGE_LIMIT },
    ]);
  });

  it('passes over a thread the upstream refuses to delete (403, seen as the upstream unavailable), counting it failed', async () => {
    const { gw, admin, id, user, purge } = await setup();
    const mallory = await user('mallory');
    const threads = [await newThread(mallory), await newThread(mallory), await newThread(mallory)];
    const stuck = threads[1];
    await gw.emulator.configure({
      status_overrides: [{ method: 'DELETE', path: `/threads/${stuck}`, status: 403 }],
    });
    const res = await purge('mallory');
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await parseJson(res, Deleted)).toEqual({
      tenant: id,
      user: 'mallory',
      deleted: 2,
      failed: 1,
      remaining: 1,
    });
    expect((await mallory.request('GET', `/v1/threads/${stuck}`)).status).toBe(200);
    // A repeat tries it again, and deletes nothing else.
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({
      deleted: 0,
      failed: 1,
      remaining: 1,
    });
    const audit = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), Audit);
    expect(audit.entries.filter((e) => e.action === 'user.threads.delete').map((e) => e.detail)).toEqual([
      { deleted: 2 },
    ]);
  });

  it('stops after three failed deletes in a row, keeping and auditing what it deleted; a repeat finishes', async () => {
    const { gw, admin, id, user, purge } = await setup();
    const mallory = await user('mallory');
    const created: z.infer<typeof Created>[] = [];
    for (let i = 0; i < 5; i++) created.push(await createdThread(mallory));
    // Deleted newest first (ties on the second-grained creation time by id, descending): the
    // first goes, then the upstream is down for the others (their retries too).
    const [first, ...rest] = created.sort((a, b) =>
      a.created_at === b.created_at
        ? b.thread_id.localeCompare(a.thread_id)
        : b.created_at.localeCompare(a.created_at),
    );
    await gw.emulator.configure({
      status_overrides: rest.map((t) => ({ method: 'DELETE', path: `/threads/${t.thread_id}`, status: 503 })),
    });
    const stopped = await purge('mallory');
    expect(Number(stopped.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await parseJson(stopped, Deleted)).toMatchObject({ deleted: 1, failed: 3, remaining: 4 });
    await expectError(await mallory.request('GET', `/v1/threads/${first?.thread_id}`), 404, 'NOT_FOUND');
    // The fifth was never tried: three deletes in a row failed.
    const tried = (await gw.emulator.stats()).request_log
      .filter((r) => r.method === 'DELETE')
      .map((r) => r.path);
    expect(tried).not.toContain(`/threads/${rest[3]?.thread_id}`);
    const audit = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), Audit);
    expect(audit.entries[0]).toMatchObject({ action: 'user.threads.delete', detail: { deleted: 1 } });
    await gw.emulator.configure({ status_overrides: [] });
    expect(await parseJson(await purge('mallory'), Deleted)).toMatchObject({
      deleted: 4,
      failed: 0,
      remaining: 0,
    });
  });

  it('takes a permit of the account’s governor per delete, stopping when none is left', async () => {
    const { gw, user, purge } = await setup({ threads_per_user: 6, threads_per_user_per_day: 6 });
    const mallory = await user('mallory');
    const threads: string[] = [];
    for (let i = 0; i < 6; i++) threads.push(await newThread(mallory));

    // The account's budget, as the upstream states it on its next answer (a read of mallory's
    // messages): 3 calls left after that read, in a window set to end a minute from now (not
    // at the wall clock's next minute, which could come mid-test and reset the count).
    await gw.emulator.setRate({ remaining: 4 });
    expect((await mallory.request('GET', `/v1/threads/${threads[0]}/messages`)).status).toBe(200);
    let deleted = 0;
    let stoppedFor: number | undefined;
    for (let call = 0; call < 3 && stoppedFor === undefined; call++) {
      const answer = await parseJson(await purge('mallory'), Deleted);
      deleted += answer.deleted;
      stoppedFor = answer.retry_after;
    }
    // Some were deleted, then the governor granted no more, and the upstream never had to say 429.
    expect(stoppedFor).toBeGreaterThanOrEqual(1);
    expect(deleted).toBeLessThan(6);
    expect((await gw.emulator.stats()).rate_limited).toBe(0);
  });

  it('answers 404 for a tenant it does not know, calling no upstream', async () => {
    const gw = testGateway();
    const watch = await watchUpstream(gw.emulator);
    const res = await operator(gw.overrides).request('DELETE', `/tenants/nope-${unique()}/users/u/threads`);
    await expectError(res, 404, 'NOT_FOUND');
    await watch.expectNone();
  });
});
