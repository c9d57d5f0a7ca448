import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newFile, newThread, textFile } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** Every page of the caller's threads at `limit`, following `next_cursor`. */
async function threadPages(caller: Caller, limit: number) {
  const pages: { ids: string[]; created: string[]; next?: string }[] = [];
  let cursor: string | undefined;
  do {
    const res = await caller.edge.v1.threads.$get({ query: { limit, ...(cursor ? { cursor } : {}) } });
    expect(res.status).toBe(200);
    const page = await res.json();
    pages.push({
      ids: page.threads.map((t) => t.thread_id),
      created: page.threads.map((t) => t.created_at),
      ...(page.next_cursor ? { next: page.next_cursor } : {}),
    });
    cursor = page.next_cursor;
  } while (cursor);
  return pages;
}

describe('GET /v1/threads: pages', () => {
  const gw = testGateway({
    tenants: { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_per_user: 10 } } },
  });

  it('pages through every thread once, newest first, next_cursor only while there is more', async () => {
    const alice = await gw.caller('acme');
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) made.push(await newThread(alice));
    const pages = await threadPages(alice, 2);
    expect(pages.map((p) => p.ids.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => p.next !== undefined)).toEqual([true, true, false]);
    const all = pages.flatMap((p) => p.ids);
    expect(new Set(all).size).toBe(5);
    expect([...all].sort()).toEqual([...made].sort());
    const created = pages.flatMap((p) => p.created);
    expect(created).toEqual([...created].sort().reverse());
    // One page of all of them is the same order.
    const whole = await (await alice.edge.v1.threads.$get({ query: {} })).json();
    expect(whole.threads.map((t) => t.thread_id)).toEqual(all);
    expect(whole.next_cursor).toBeUndefined();
  });

  it('neither repeats nor skips a thread when threads come and go between pages', async () => {
    const alice = await gw.caller('acme');
    const made: string[] = [];
    for (let i = 0; i < 4; i += 1) made.push(await newThread(alice));
    const first = await (await alice.edge.v1.threads.$get({ query: { limit: 2 } })).json();
    const seen = first.threads.map((t) => t.thread_id);
    const cursor = first.next_cursor;
    if (!cursor) throw new Error('no next_cursor');
    // A new thread and the deletion of one already seen, between the pages.
    const added = await newThread(alice);
    const [gone] = seen;
    const deleted = await alice.edge.v1.threads[':thread_id'].$delete({ param: { thread_id: gone ?? '' } });
    expect(deleted.status).toBe(204);
    const rest = await (await alice.edge.v1.threads.$get({ query: { limit: 10, cursor } })).json();
    const later = rest.threads.map((t) => t.thread_id);
    // Every thread that was there all along comes exactly once; the new one may come (a tie
    // of timestamps sorts it by id) but once at most.
    const unseen = made.filter((id) => !seen.includes(id));
    expect(later.filter((id) => id !== added).sort()).toEqual(unseen.sort());
    expect(new Set(later).size).toBe(later.length);
    expect(rest.next_cursor).toBeUndefined();
  });

  it("pages only the caller's own threads, even with another user's cursor", async () => {
    const [alice, bob] = await Promise.all([gw.caller('acme'), gw.caller('acme')]);
    for (let i = 0; i < 3; i += 1) await newThread(alice);
    const bobs = await newThread(bob);
    const first = await (await alice.edge.v1.threads.$get({ query: { limit: 1 } })).json();
    const cursor = first.next_cursor;
    if (!cursor) throw new Error('no next_cursor');
    const asBob = await (await bob.edge.v1.threads.$get({ query: { cursor } })).json();
    expect(asBob.threads.map((t) => t.thread_id).filter((id) => id !== bobs)).toEqual([]);
  });

  it('refuses a limit out of 1-100 and a cursor it did not issue: 400 naming the field, no upstream call', async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const limit of ['0', '101', 'abc', '2.5']) {
      await expectError(
        await alice.request('GET', `/v1/threads?limit=${limit}`),
        400,
        'VALIDATION_ERROR',
        'limit',
      );
    }
    const forged = btoa(JSON.stringify({ at: 'x' })).replace(/=+$/, '');
    for (const cursor of ['bogus value', '%00', 'eyJ4Ijox', forged, 'A'.repeat(600)]) {
      const res = await alice.request('GET', `/v1/threads?cursor=${encodeURIComponent(cursor)}`);
      const body = await expectError(res, 400, 'VALIDATION_ERROR', 'cursor');
      expect(body.detail).not.toContain(cursor.slice(0, 12));
    }
    await expectError(await alice.request('GET', '/v1/threads?page=2'), 400, 'VALIDATION_ERROR', 'page');
    await watch.expectNone();
  });
});

describe('GET /v1/files: pages', () => {
  const gw = testGateway();

  it('answers 50 files a page by default and at most 100, newest first', async () => {
    const alice = await gw.caller('acme');
    const made: string[] = [];
    for (let i = 0; i < 51; i += 1) made.push(await newFile(alice, textFile(`file ${i}`, `f${i}.txt`)));
    const first = await (await alice.edge.v1.files.$get({ query: {} })).json();
    expect(first.files).toHaveLength(50);
    const cursor = first.next_cursor;
    if (!cursor) throw new Error('no next_cursor');
    const second = await (await alice.edge.v1.files.$get({ query: { cursor } })).json();
    expect(second.files).toHaveLength(1);
    expect(second.next_cursor).toBeUndefined();
    const all = [...first.files, ...second.files];
    expect(all.map((f) => f.file_id).sort()).toEqual([...made].sort());
    const uploaded = all.map((f) => f.uploaded_at);
    expect(uploaded).toEqual([...uploaded].sort().reverse());
    const max = await (await alice.edge.v1.files.$get({ query: { limit: 100 } })).json();
    expect(max.files.map((f) => f.file_id)).toEqual(all.map((f) => f.file_id));
    expect(max.next_cursor).toBeUndefined();
  });

  it('refuses a malformed cursor with 400 naming cursor, before the upstream', async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    await expectError(
      await alice.request('GET', '/v1/files?cursor=%21%21'),
      400,
      'VALIDATION_ERROR',
      'cursor',
    );
    await expectError(await alice.request('GET', '/v1/files?limit=1000'), 400, 'VALIDATION_ERROR', 'limit');
    await watch.expectNone();
  });
});
