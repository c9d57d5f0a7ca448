/**
 * Broken object-level authorization: another user of the same tenant, and a user of another
 * tenant, aim every safe route at Alice's thread, key and file. Each answer must be the same
 * 404 a missing id gets, and the upstream must see no request naming Alice's ids at all.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, watchUpstream, withoutRequestId } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';

/** Well-formed ids that exist nowhere. */
const MISSING_THREAD = 'thread_does_not_exist';
const MISSING_FILE = 'file_does_not_exist';

type Attack = [method: string, path: string, json?: unknown];

const threadAttacks = (id: string): Attack[] => [
  ['GET', `/v1/threads/${id}`],
  ['DELETE', `/v1/threads/${id}`],
  ['GET', `/v1/threads/${id}/messages`],
  ['GET', `/v1/threads/${id}/messages?limit=1`],
  ['POST', `/v1/threads/${id}/messages`, { content: 'injected by an attacker' }],
  ['GET', `/v1/threads/${id}/db`],
  ['GET', `/v1/threads/${id}/db/secret`],
  ['PUT', `/v1/threads/${id}/db/secret`, { value: 'overwritten' }],
];

const fileAttacks = (id: string): Attack[] => [['DELETE', `/v1/files/${id}`]];

describe('object-level authorization', () => {
  const gw = testGateway();
  let alice: Caller;
  let threadId: string;
  let fileId: string;

  beforeAll(async () => {
    alice = await gw.caller('acme', 'alice');
    const thread = await alice.request('POST', '/v1/threads', { json: { name: 'private' } });
    expect(thread.status).toBe(201);
    threadId = ((await thread.json()) as { thread_id: string }).thread_id;
    await alice.request('POST', `/v1/threads/${threadId}/messages`, { json: { content: 'my secret' } });
    await alice.request('PUT', `/v1/threads/${threadId}/db/secret`, { json: { value: 'alice only' } });
    const form = new FormData();
    form.append('file', new File(['private'], 'private.txt', { type: 'text/plain' }));
    const file = await alice.request('POST', '/v1/files', { body: form });
    expect(file.status).toBe(201);
    fileId = ((await file.json()) as { file_id: string }).file_id;
  });

  /** Runs `attacks` and the same calls on missing ids; the answers must match exactly. */
  async function attack(attacker: Caller): Promise<void> {
    const pairs: [Attack, Attack][] = [
      ...threadAttacks(threadId).map((a, i): [Attack, Attack] => [
        a,
        threadAttacks(MISSING_THREAD)[i] as Attack,
      ]),
      ...fileAttacks(fileId).map((a, i): [Attack, Attack] => [a, fileAttacks(MISSING_FILE)[i] as Attack]),
    ];
    const watch = await watchUpstream(gw.emulator);
    for (const [[method, path, json], [, missingPath]] of pairs) {
      const res = await attacker.request(method, path, { json });
      const missing = await attacker.request(method, missingPath, { json });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect([...res.headers.keys()].sort()).toEqual([...missing.headers.keys()].sort());
      const body = await expectError(res, 404, 'NOT_FOUND');
      const missingBody = await expectError(missing, 404, 'NOT_FOUND');
      expect(withoutRequestId(body)).toEqual(withoutRequestId(missingBody));
    }
    await watch.expectNoneFor(threadId);
    await watch.expectNoneFor(fileId);
    // In fact nothing at all went upstream: ownership is decided at the edge.
    await watch.expectNone();
  }

  /** Alice's data is exactly as she left it. */
  async function expectUntouched(): Promise<void> {
    const thread = await alice.request('GET', `/v1/threads/${threadId}`);
    expect(thread.status).toBe(200);
    const detail = (await thread.json()) as { messages: { content: string }[] };
    expect(detail.messages.map((m) => m.content)).toEqual(['my secret']);
    expect(await (await alice.request('GET', `/v1/threads/${threadId}/db/secret`)).json()).toBe('alice only');
    const files = (await (await alice.request('GET', '/v1/files')).json()) as {
      files: { file_id: string }[];
    };
    expect(files.files.map((f) => f.file_id)).toEqual([fileId]);
  }

  it("another user of the same tenant gets 404 for Alice's thread, key and file", async () => {
    const bob = await gw.caller('acme', 'bob');
    await attack(bob);
    await expectUntouched();
  });

  it("a user of another tenant gets 404 for Alice's thread, key and file", async () => {
    const mallory = await gw.caller('globex', 'mallory');
    await attack(mallory);
    await expectUntouched();
  });

  it("a user of another tenant with Alice's own subject gets 404 too", async () => {
    const impostor = await gw.caller('globex', 'alice');
    await attack(impostor);
    await expectUntouched();
  });

  it("Alice's thread and file never show up in anyone else's lists", async () => {
    const others = [await gw.caller('acme', 'bob'), await gw.caller('globex', 'alice')];
    for (const other of others) {
      const threads = await (await other.request('GET', '/v1/threads')).text();
      const files = await (await other.request('GET', '/v1/files')).text();
      expect(threads).not.toContain(threadId);
      expect(files).not.toContain(fileId);
    }
  });
});
