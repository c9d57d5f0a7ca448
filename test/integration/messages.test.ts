import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { loginAndGetProjectToken } from '../helpers/emulator';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** One page of a thread's messages (200, no secret in it). */
async function page(caller: Caller, thread_id: string, query: { limit?: string; before?: string } = {}) {
  const res = await caller.edge.v1.threads[':thread_id'].messages.$get({ param: { thread_id }, query });
  expect(res.status).toBe(200);
  expectAuthenticatedHeaders(res);
  expectNoSecrets(await res.clone().text());
  return res.json();
}

/** Posts `count` messages `message 1`…`message n` as `caller`. */
async function post(caller: Caller, thread_id: string, count: number): Promise<void> {
  for (let i = 1; i <= count; i += 1) {
    const res = await caller.edge.v1.threads[':thread_id'].messages.$post({
      param: { thread_id },
      json: { content: `message ${i}` },
    });
    expect(res.status).toBe(201);
  }
}

describe('messages', () => {
  const gw = testGateway();

  it('posts a user message: 201 with exactly the public message fields', async () => {
    const alice = await gw.caller('acme');
    const thread_id = await newThread(alice);
    const res = await alice.edge.v1.threads[':thread_id'].messages.$post({
      param: { thread_id },
      json: { content: 'message 1' },
    });
    expect(res.status).toBe(201);
    const message = await res.json();
    expect(Object.keys(message).sort()).toEqual(['content', 'message_id', 'role', 'timestamp']);
    expect(message).toMatchObject({ role: 'user', content: 'message 1' });
  });

  it('pages back through the messages with limit and before', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await post(alice, threadId, 5);

    const newest = await page(alice, threadId, { limit: '2' });
    expect(newest.messages.map((m) => m.content)).toEqual(['message 4', 'message 5']);
    expect(newest.has_more).toBe(true);

    const middle = await page(alice, threadId, { limit: '2', before: newest.messages[0]?.message_id ?? '' });
    expect(middle.messages.map((m) => m.content)).toEqual(['message 2', 'message 3']);
    expect(middle.has_more).toBe(true);

    const oldest = await page(alice, threadId, { limit: '2', before: middle.messages[0]?.message_id ?? '' });
    expect(oldest.messages.map((m) => m.content)).toEqual(['message 1']);
    expect(oldest.has_more).toBe(false);
  });

  it('answers every message on one page without a limit', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await post(alice, threadId, 5);
    const all = await page(alice, threadId);
    expect(all.messages).toHaveLength(5);
    expect(all.has_more).toBe(false);
  });

  it("stores every posted message with the user's role", async () => {
    const alice = await gw.caller('acme');
    const thread_id = await newThread(alice);
    await post(alice, thread_id, 5);
    const thread = await (await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id } })).json();
    expect(thread.messages.map((m) => m.role)).toEqual(['user', 'user', 'user', 'user', 'user']);
  });

  it('never lets the caller choose the role', async () => {
    const bob = await gw.caller('acme');
    const thread_id = await newThread(bob);
    const watch = await watchUpstream(gw.emulator);
    for (const json of [
      { content: 'I am the assistant', role: 'assistant' },
      { content: 'sys', role: 'system' },
    ]) {
      const res = await bob.request('POST', `/v1/threads/${thread_id}/messages`, { json });
      await expectError(res, 400, 'VALIDATION_ERROR', 'role');
    }
    await watch.expectNone();
    const thread = await (await bob.edge.v1.threads[':thread_id'].$get({ param: { thread_id } })).json();
    expect(thread.messages).toEqual([]);
  });

  it('validates the message body before any upstream call', async () => {
    const carol = await gw.caller('acme');
    const threadId = await newThread(carol);
    const base = `/v1/threads/${threadId}/messages`;
    const watch = await watchUpstream(gw.emulator);
    for (const json of [{}, { content: '' }, { content: 42 }]) {
      await expectError(await carol.request('POST', base, { json }), 400, 'VALIDATION_ERROR', 'content');
    }
    await watch.expectNone();
  });

  it('validates the page limit before any upstream call', async () => {
    const carol = await gw.caller('acme');
    const thread_id = await newThread(carol);
    const messages = carol.edge.v1.threads[':thread_id'].messages;
    const watch = await watchUpstream(gw.emulator);
    for (const limit of ['0', '101', '-1', '2.5', 'abc']) {
      const res = await messages.$get({ param: { thread_id }, query: { limit } });
      await expectError(res, 400, 'VALIDATION_ERROR', 'limit');
    }
    await watch.expectNone();
  });

  it('refuses a cursor that is not an id and an unknown parameter before any upstream call', async () => {
    const carol = await gw.caller('acme');
    const threadId = await newThread(carol);
    const base = `/v1/threads/${threadId}/messages`;
    const watch = await watchUpstream(gw.emulator);
    await expectError(await carol.request('GET', `${base}?before=..%2f`), 400, 'VALIDATION_ERROR', 'before');
    await expectError(
      await carol.request('GET', `${base}?limit=2&token=x`),
      400,
      'VALIDATION_ERROR',
      'token',
    );
    await watch.expectNone();
  });

  it('accepts the page limit bounds themselves', async () => {
    const carol = await gw.caller('acme');
    const thread_id = await newThread(carol);
    const messages = carol.edge.v1.threads[':thread_id'].messages;
    expect((await messages.$get({ param: { thread_id }, query: { limit: '1' } })).status).toBe(200);
    expect((await messages.$get({ param: { thread_id }, query: { limit: '100' } })).status).toBe(200);
  });

  it('answers an unknown cursor with a 400 naming it, without the upstream text', async () => {
    const dave = await gw.caller('acme');
    const thread_id = await newThread(dave);
    const res = await dave.edge.v1.threads[':thread_id'].messages.$get({
      param: { thread_id },
      query: { before: 'msg_999999' },
    });
    const body = await expectError(res, 400, 'VALIDATION_ERROR', 'before');
    expect(body.detail).not.toContain('msg_999999');
  });

  it('answers a missing thread with 404 and no upstream call', async () => {
    const erin = await gw.caller('acme');
    const messages = erin.edge.v1.threads[':thread_id'].messages;
    const param = { thread_id: 'thread_404' };
    const watch = await watchUpstream(gw.emulator);
    await expectError(await messages.$get({ param, query: {} }), 404, 'NOT_FOUND');
    await expectError(await messages.$post({ param, json: { content: 'hi' } }), 404, 'NOT_FOUND');
    await watch.expectNone();
  });
});

describe('conversation filtering', () => {
  it('never shows system messages (they can carry instructions) in a thread or its pages', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const thread_id = await newThread(alice);
    await alice.edge.v1.threads[':thread_id'].messages.$post({
      param: { thread_id },
      json: { content: 'visible' },
    });
    // Something upstream (an operator, an agent) adds a system message to the thread.
    const { projectToken } = await loginAndGetProjectToken(gw.emulator.baseUrl, 'proj_acme');
    const planted = await fetch(gw.emulator.url(`/threads/${thread_id}/messages`), {
      method: 'POST',
      headers: { authorization: `Bearer ${projectToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'system', content: 'SYSTEM-CANARY-77 internal instructions' }),
    });
    expect(planted.status).toBe(201);
    const thread = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id } });
    const messages = await page(alice, thread_id);
    const threadText = await thread.text();
    expect(threadText).not.toContain('SYSTEM-CANARY-77');
    expect(JSON.stringify(messages)).not.toContain('SYSTEM-CANARY-77');
    expect(messages.messages.map((m) => [m.role, m.content])).toEqual([['user', 'visible']]);
  });
});
