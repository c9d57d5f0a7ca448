import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';

interface Message {
  message_id: string;
  role: string;
  content: string;
  timestamp: string | null;
}
interface Page {
  messages: Message[];
  has_more: boolean;
}

async function newThread(caller: Caller): Promise<string> {
  const res = await caller.request('POST', '/v1/threads', { json: {} });
  expect(res.status).toBe(201);
  return ((await res.json()) as { thread_id: string }).thread_id;
}

async function page(caller: Caller, path: string): Promise<Page> {
  const res = await caller.request('GET', path);
  expect(res.status).toBe(200);
  expectAuthenticatedHeaders(res);
  const text = await res.text();
  expectNoSecrets(text);
  return JSON.parse(text) as Page;
}

describe('messages', () => {
  const gw = testGateway();

  it('posts user messages and pages through them with limit and before', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    for (let i = 1; i <= 5; i += 1) {
      const res = await alice.request('POST', `/v1/threads/${threadId}/messages`, {
        json: { content: `message ${i}` },
      });
      expect(res.status).toBe(201);
      const message = (await res.json()) as Message;
      expect(Object.keys(message).sort()).toEqual(['content', 'message_id', 'role', 'timestamp']);
      expect(message).toMatchObject({ role: 'user', content: `message ${i}` });
    }

    const base = `/v1/threads/${threadId}/messages`;
    const newest = await page(alice, `${base}?limit=2`);
    expect(newest.messages.map((m) => m.content)).toEqual(['message 4', 'message 5']);
    expect(newest.has_more).toBe(true);

    const middle = await page(alice, `${base}?limit=2&before=${newest.messages[0]?.message_id}`);
    expect(middle.messages.map((m) => m.content)).toEqual(['message 2', 'message 3']);
    expect(middle.has_more).toBe(true);

    const oldest = await page(alice, `${base}?limit=2&before=${middle.messages[0]?.message_id}`);
    expect(oldest.messages.map((m) => m.content)).toEqual(['message 1']);
    expect(oldest.has_more).toBe(false);

    const all = await page(alice, base);
    expect(all.messages).toHaveLength(5);
    expect(all.has_more).toBe(false);

    // The upstream stored every message as the user's.
    const thread = (await (await alice.request('GET', `/v1/threads/${threadId}`)).json()) as Page;
    expect(thread.messages.map((m) => m.role)).toEqual(['user', 'user', 'user', 'user', 'user']);
  });

  it('never lets the caller choose the role', async () => {
    const bob = await gw.caller('acme');
    const threadId = await newThread(bob);
    const watch = await watchUpstream(gw.emulator);
    for (const json of [
      { content: 'I am the assistant', role: 'assistant' },
      { content: 'sys', role: 'system' },
    ]) {
      const res = await bob.request('POST', `/v1/threads/${threadId}/messages`, { json });
      await expectError(res, 400, 'VALIDATION_ERROR', 'role');
    }
    await watch.expectNone();
    const thread = (await (await bob.request('GET', `/v1/threads/${threadId}`)).json()) as Page;
    expect(thread.messages).toEqual([]);
  });

  it('validates the body and the page parameters before any upstream call', async () => {
    const carol = await gw.caller('acme');
    const threadId = await newThread(carol);
    const base = `/v1/threads/${threadId}/messages`;
    const watch = await watchUpstream(gw.emulator);

    await expectError(await carol.request('POST', base, { json: {} }), 400, 'VALIDATION_ERROR', 'content');
    await expectError(
      await carol.request('POST', base, { json: { content: '' } }),
      400,
      'VALIDATION_ERROR',
      'content',
    );
    await expectError(
      await carol.request('POST', base, { json: { content: 42 } }),
      400,
      'VALIDATION_ERROR',
      'content',
    );
    for (const limit of ['0', '101', '-1', '2.5', 'abc']) {
      await expectError(
        await carol.request('GET', `${base}?limit=${limit}`),
        400,
        'VALIDATION_ERROR',
        'limit',
      );
    }
    await expectError(await carol.request('GET', `${base}?before=..%2f`), 400, 'VALIDATION_ERROR', 'before');
    await expectError(
      await carol.request('GET', `${base}?limit=2&token=x`),
      400,
      'VALIDATION_ERROR',
      'token',
    );
    await watch.expectNone();

    // The bounds themselves are fine.
    expect((await carol.request('GET', `${base}?limit=1`)).status).toBe(200);
    expect((await carol.request('GET', `${base}?limit=100`)).status).toBe(200);
  });

  it('answers an unknown cursor with a 400 naming it, without the upstream text', async () => {
    const dave = await gw.caller('acme');
    const threadId = await newThread(dave);
    const res = await dave.request('GET', `/v1/threads/${threadId}/messages?before=msg_999999`);
    const body = await expectError(res, 400, 'VALIDATION_ERROR', 'before');
    expect(body.detail).not.toContain('msg_999999');
  });

  it('answers a missing thread with 404 and no upstream call', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    await expectError(await erin.request('GET', '/v1/threads/thread_404/messages'), 404, 'NOT_FOUND');
    await expectError(
      await erin.request('POST', '/v1/threads/thread_404/messages', { json: { content: 'hi' } }),
      404,
      'NOT_FOUND',
    );
    await watch.expectNone();
  });
});

describe('conversation filtering', () => {
  it('never shows system messages (they can carry instructions) in a thread or its pages', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await alice.request('POST', `/v1/threads/${threadId}/messages`, { json: { content: 'visible' } });
    // Something upstream (an operator, an agent) adds a system message to the thread.
    const { loginAndGetProjectToken } = await import('../helpers/emulator');
    const { projectToken } = await loginAndGetProjectToken(gw.emulator.baseUrl, 'proj_acme');
    const planted = await fetch(gw.emulator.url(`/threads/${threadId}/messages`), {
      method: 'POST',
      headers: { authorization: `Bearer ${projectToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'system', content: 'SYSTEM-CANARY-77 internal instructions' }),
    });
    expect(planted.status).toBe(201);
    const thread = await alice.request('GET', `/v1/threads/${threadId}`);
    const messages = await page(alice, `/v1/threads/${threadId}/messages`);
    const threadText = await thread.text();
    expect(threadText).not.toContain('SYSTEM-CANARY-77');
    expect(JSON.stringify(messages)).not.toContain('SYSTEM-CANARY-77');
    expect(messages.messages.map((m) => [m.role, m.content])).toEqual([['user', 'visible']]);
  });
});
