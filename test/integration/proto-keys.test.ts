import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';

/**
 * A `__proto__` key is the one JSON key a JavaScript object does not keep as data: a
 * validator that copies a record or a loose object assigns it, which sets the copy's
 * prototype instead, so the key vanished from what the gateway stored or sent upstream.
 * The session routes refuse it, as the admin tenant writes do.
 */

const send = (caller: Caller, method: string, path: string, body: string) =>
  caller.request(method, path, { body, headers: { 'content-type': 'application/json' } });

const UsageSchema = z.object({
  threads: z.object({ yours: z.number() }),
  streams: z.object({ active: z.number() }),
});

describe('a __proto__ key in a session route body (400 VALIDATION_ERROR naming it)', () => {
  it('is refused anywhere in a body, before admission and with no upstream call', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const watch = await watchUpstream(gw.emulator);
    const cases: [string, string, string, string][] = [
      ['POST', '/v1/threads', '{"metadata":{"__proto__":{"plan":"pro"}}}', 'metadata.__proto__'],
      ['POST', '/v1/threads', '{"metadata":{"ok":"1","__proto__":null}}', 'metadata.__proto__'],
      // The key spelled with escapes is the same key once parsed.
      ['POST', '/v1/threads', '{"metadata":{"\\u005f_proto__":{"plan":"pro"}}}', 'metadata.__proto__'],
      ['POST', '/v1/threads', '{"__proto__":{"name":"x"}}', '__proto__'],
      ['PUT', `/v1/threads/${threadId}/db/k`, '{"value":{"__proto__":{"b":1}}}', 'value.__proto__'],
      ['PUT', `/v1/threads/${threadId}/db/k`, '{"value":{"a":[1,{"__proto__":2}]}}', 'value.a.1.__proto__'],
    ];
    for (const [method, path, body, field] of cases) {
      const refused = await expectError(
        await send(alice, method, path, body),
        400,
        'VALIDATION_ERROR',
        field,
      );
      expect(refused.detail).toContain(field);
    }
    // Nothing reached the upstream, nothing was stored, reserved or leased.
    await watch.expectNone();
    await expectError(await alice.request('GET', `/v1/threads/${threadId}/db/k`), 404, 'NOT_FOUND');
    const usage = await parseJson(await alice.request('GET', '/v1/usage'), UsageSchema);
    expect([usage.threads.yours, usage.streams.active]).toEqual([1, 0]);
  });

  it('is let through in a chat turn: the history it may sit in is neither stored nor forwarded', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    // A client tool's output in the history the SDK re-sends with every turn.
    const body = JSON.stringify({
      id: 'chat_proto',
      trigger: 'submit-message',
      messages: [
        { id: 'm0', role: 'user', parts: [{ type: 'text', text: 'look it up' }] },
        {
          id: 'm1',
          role: 'assistant',
          parts: [{ type: 'tool-lookup', state: 'output-available', output: {} }],
        },
        { id: 'm2', role: 'user', parts: [{ type: 'text', text: 'hi' }] },
      ],
    }).replace('"output":{}', '"output":{"__proto__":{"x":1}}');
    const res = await send(alice, 'POST', '/v1/chat', body);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.text()).toContain('"type":"text-delta"');
  });

  it('leaves other keys alone: `constructor`, and `__proto__` as text or a value', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const created = await send(
      alice,
      'POST',
      '/v1/threads',
      '{"metadata":{"constructor":"c","p":"__proto__"}}',
    );
    expect(created.status, await created.clone().text()).toBe(201);
    const threadId = (await parseJson(created, z.object({ thread_id: z.string() }))).thread_id;
    for (const value of ['"__proto__"', '{"k":"\\u00e9 __proto__"}', '["__proto__"]']) {
      const res = await send(alice, 'PUT', `/v1/threads/${threadId}/db/k`, `{"value":${value}}`);
      expect(res.status, await res.clone().text()).toBe(200);
      const stored = await alice.request('GET', `/v1/threads/${threadId}/db/k`);
      expect(await stored.json()).toEqual(JSON.parse(value));
    }
  });
});
