import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';

const THREAD_KEYS = ['assistant_id', 'created_at', 'name', 'thread_id'];

describe('threads', () => {
  const gw = testGateway();

  it('creates, lists, reads and deletes a thread', async () => {
    const alice = await gw.caller('acme');
    const created = await alice.request('POST', '/v1/threads', { json: { name: 'Order 42' } });
    expect(created.status).toBe(201);
    expectAuthenticatedHeaders(created);
    const thread = (await created.json()) as { thread_id: string };
    expect(Object.keys(thread).sort()).toEqual(THREAD_KEYS);
    expect(thread).toMatchObject({ name: 'Order 42', assistant_id: 'asst_support' });

    const list = await alice.request('GET', '/v1/threads');
    expectAuthenticatedHeaders(list);
    expect(await list.json()).toEqual({
      threads: [expect.objectContaining({ thread_id: thread.thread_id })],
    });

    const got = await alice.request('GET', `/v1/threads/${thread.thread_id}`);
    expect(got.status).toBe(200);
    const text = await got.text();
    expectNoSecrets(text);
    const detail = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(detail).sort()).toEqual([...THREAD_KEYS, 'messages'].sort());
    expect(detail).toMatchObject({ thread_id: thread.thread_id, messages: [] });

    const deleted = await alice.request('DELETE', `/v1/threads/${thread.thread_id}`);
    expect(deleted.status).toBe(204);
    expectAuthenticatedHeaders(deleted);
    expect(await deleted.text()).toBe('');

    const watch = await watchUpstream(gw.emulator);
    await expectError(await alice.request('GET', `/v1/threads/${thread.thread_id}`), 404, 'NOT_FOUND');
    await expectError(await alice.request('DELETE', `/v1/threads/${thread.thread_id}`), 404, 'NOT_FOUND');
    expect(await (await alice.request('GET', '/v1/threads')).json()).toEqual({ threads: [] });
    await watch.expectNone();
  });

  it('creates with an allow-listed assistant and refuses any other before the upstream', async () => {
    const bob = await gw.caller('acme');
    const sales = await bob.request('POST', '/v1/threads', { json: { assistant_id: 'asst_sales' } });
    expect(sales.status).toBe(201);
    expect(await sales.json()).toMatchObject({ assistant_id: 'asst_sales' });

    const watch = await watchUpstream(gw.emulator);
    for (const assistant_id of ['asst_internal', 'asst_missing']) {
      const res = await bob.request('POST', '/v1/threads', { json: { assistant_id } });
      await expectError(res, 400, 'VALIDATION_ERROR', 'assistant_id');
    }
    // globex allows only asst_support: acme's second assistant is not globex's.
    const globex = await gw.caller('globex');
    const res = await globex.request('POST', '/v1/threads', { json: { assistant_id: 'asst_sales' } });
    await expectError(res, 400, 'VALIDATION_ERROR', 'assistant_id');
    await watch.expectNone();
  });

  it("lists only the caller's own threads", async () => {
    const [carol, dave] = await Promise.all([gw.caller('acme'), gw.caller('acme')]);
    const mine = (await (await carol.request('POST', '/v1/threads', { json: {} })).json()) as {
      thread_id: string;
    };
    await dave.request('POST', '/v1/threads', { json: { name: 'dave' } });
    const list = (await (await carol.request('GET', '/v1/threads')).json()) as {
      threads: { thread_id: string }[];
    };
    expect(list.threads.map((t) => t.thread_id)).toEqual([mine.thread_id]);
    const globex = await gw.caller('globex');
    expect(await (await globex.request('GET', '/v1/threads')).json()).toEqual({ threads: [] });
  });

  it("sends the upstream the gateway's own token, never the caller's", async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await erin.request('POST', '/v1/threads', {
      json: { name: 'With metadata', metadata: { order: '42', vip: true } },
    });
    expect(res.status).toBe(201);
    const creates = (await watch.requests()).filter((r) => r.method === 'POST' && r.path === '/threads/');
    expect(creates).toHaveLength(1);
    // The proxy's own (project) token goes upstream, never the caller's session token.
    expect(creates[0]?.authorization).not.toContain(erin.token);
  });
});
