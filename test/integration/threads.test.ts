import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { testGateway } from '../helpers/gateway';

const THREAD_KEYS = ['assistant_id', 'created_at', 'name', 'thread_id'];

describe('threads', () => {
  const gw = testGateway();

  it('creates a thread: 201 with exactly the public thread fields', async () => {
    const alice = await gw.caller('acme');
    const created = await alice.edge.v1.threads.$post({ json: { name: 'Order 42' } });
    expect(created.status).toBe(201);
    expectAuthenticatedHeaders(created);
    const thread = await created.json();
    expect(Object.keys(thread).sort()).toEqual(THREAD_KEYS);
    expect(thread).toMatchObject({ name: 'Order 42', assistant_id: 'asst_support' });
  });

  it('lists a created thread', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice, { name: 'Order 42' });
    const list = await alice.edge.v1.threads.$get({ query: {} });
    expectAuthenticatedHeaders(list);
    expect(await list.json()).toEqual({ threads: [expect.objectContaining({ thread_id: threadId })] });
  });

  it('reads a thread with its messages and nothing secret', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice, { name: 'Order 42' });
    const got = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } });
    expect(got.status).toBe(200);
    const text = await got.clone().text();
    expectNoSecrets(text);
    const detail = await got.json();
    expect(Object.keys(detail).sort()).toEqual([...THREAD_KEYS, 'messages'].sort());
    expect(detail).toMatchObject({ thread_id: threadId, messages: [] });
  });

  it('deletes a thread with an empty 204', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const deleted = await alice.edge.v1.threads[':thread_id'].$delete({ param: { thread_id: threadId } });
    expect(deleted.status).toBe(204);
    expectAuthenticatedHeaders(deleted);
    expect(await deleted.text()).toBe('');
  });

  it('forgets a deleted thread at the edge: 404s and an empty list, no upstream call', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const thread = alice.edge.v1.threads[':thread_id'];
    expect((await thread.$delete({ param: { thread_id: threadId } })).status).toBe(204);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await thread.$get({ param: { thread_id: threadId } }), 404, 'NOT_FOUND');
    await expectError(await thread.$delete({ param: { thread_id: threadId } }), 404, 'NOT_FOUND');
    expect(await (await alice.edge.v1.threads.$get({ query: {} })).json()).toEqual({ threads: [] });
    await watch.expectNone();
  });

  it('creates with another allow-listed assistant', async () => {
    const bob = await gw.caller('acme');
    const sales = await bob.edge.v1.threads.$post({ json: { assistant_id: 'asst_sales' } });
    expect(sales.status).toBe(201);
    expect(await sales.json()).toMatchObject({ assistant_id: 'asst_sales' });
  });

  it('refuses an assistant outside the allow-list before the upstream', async () => {
    const bob = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const assistant_id of ['asst_internal', 'asst_missing']) {
      const res = await bob.edge.v1.threads.$post({ json: { assistant_id } });
      await expectError(res, 400, 'VALIDATION_ERROR', 'assistant_id');
    }
    await watch.expectNone();
  });

  it("refuses another tenant's assistant before the upstream", async () => {
    // globex allows only asst_support: acme's second assistant is not globex's.
    const globex = await gw.caller('globex');
    const watch = await watchUpstream(gw.emulator);
    const res = await globex.edge.v1.threads.$post({ json: { assistant_id: 'asst_sales' } });
    await expectError(res, 400, 'VALIDATION_ERROR', 'assistant_id');
    await watch.expectNone();
  });

  it("lists only the caller's own threads, not another user's", async () => {
    const [carol, dave] = await Promise.all([gw.caller('acme'), gw.caller('acme')]);
    const mine = await newThread(carol);
    await newThread(dave, { name: 'dave' });
    const list = await (await carol.edge.v1.threads.$get({ query: {} })).json();
    expect(list.threads.map((t) => t.thread_id)).toEqual([mine]);
  });

  it("lists none of another tenant's threads", async () => {
    const carol = await gw.caller('acme');
    await newThread(carol);
    const globex = await gw.caller('globex');
    expect(await (await globex.edge.v1.threads.$get({ query: {} })).json()).toEqual({ threads: [] });
  });

  it("sends the upstream the gateway's own token, never the caller's", async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await erin.edge.v1.threads.$post({
      json: { name: 'With metadata', metadata: { order: '42', vip: true } },
    });
    expect(res.status).toBe(201);
    const creates = (await watch.requests()).filter((r) => r.method === 'POST' && r.path === '/threads/');
    expect(creates).toHaveLength(1);
    // The proxy's own (project) token goes upstream, never the caller's session token.
    expect(creates[0]?.authorization).not.toContain(erin.token);
  });
});
