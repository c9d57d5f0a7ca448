/**
 * Broken object-level authorization: another user of the same tenant, and a user of another
 * tenant, aim every safe route at Alice's thread, key and file. Each answer must be the same
 * 404 a missing id gets, and the upstream must see no request naming Alice's ids at all.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, watchUpstream, withoutRequestId } from '../helpers/assertions';
import { newFile, newThread, textFile } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** Well-formed ids that exist nowhere. */
const MISSING_THREAD = 'thread_does_not_exist';
const MISSING_FILE = 'file_does_not_exist';

/** One safe route aimed at a thread and a file, by their ids. */
interface Attack {
  method: string;
  path: (threadId: string, fileId: string) => string;
  json?: unknown;
}

const ATTACKS: Attack[] = [
  { method: 'GET', path: (t) => `/v1/threads/${t}` },
  { method: 'DELETE', path: (t) => `/v1/threads/${t}` },
  { method: 'GET', path: (t) => `/v1/threads/${t}/messages` },
  { method: 'GET', path: (t) => `/v1/threads/${t}/messages?limit=1` },
  { method: 'POST', path: (t) => `/v1/threads/${t}/messages`, json: { content: 'injected by an attacker' } },
  { method: 'GET', path: (t) => `/v1/threads/${t}/db` },
  { method: 'GET', path: (t) => `/v1/threads/${t}/db/secret` },
  { method: 'PUT', path: (t) => `/v1/threads/${t}/db/secret`, json: { value: 'overwritten' } },
  { method: 'DELETE', path: (_, f) => `/v1/files/${f}` },
];

describe('object-level authorization', () => {
  const gw = testGateway();
  let alice: Caller;
  let threadId: string;
  let fileId: string;

  beforeAll(async () => {
    alice = await gw.caller('acme', 'alice');
    threadId = await newThread(alice, { name: 'private' });
    const thread = alice.edge.v1.threads[':thread_id'];
    const posted = await thread.messages.$post({
      param: { thread_id: threadId },
      json: { content: 'my secret' },
    });
    expect(posted.status).toBe(201);
    const put = await thread.db[':key'].$put({
      param: { thread_id: threadId, key: 'secret' },
      json: { value: 'alice only' },
    });
    expect(put.status).toBe(200);
    fileId = await newFile(alice, textFile('private', 'private.txt'));
  });

  /** Runs every attack and the same call on missing ids; the answers must match exactly. */
  async function attack(attacker: Caller): Promise<void> {
    const watch = await watchUpstream(gw.emulator);
    for (const { method, path: pathOf, json } of ATTACKS) {
      const path = pathOf(threadId, fileId);
      const res = await attacker.request(method, path, { json });
      const missing = await attacker.request(method, pathOf(MISSING_THREAD, MISSING_FILE), { json });
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

  /** Alice's data is exactly the way she left it. */
  async function expectUntouched(): Promise<void> {
    const routes = alice.edge.v1.threads[':thread_id'];
    const thread = await routes.$get({ param: { thread_id: threadId } });
    expect(thread.status).toBe(200);
    expect((await thread.json()).messages.map((m) => m.content)).toEqual(['my secret']);
    const secret = await routes.db[':key'].$get({ param: { thread_id: threadId, key: 'secret' } });
    expect(await secret.json()).toBe('alice only');
    const files = await (await alice.edge.v1.files.$get({ query: {} })).json();
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
      const threads = await (await other.edge.v1.threads.$get({ query: {} })).text();
      const files = await (await other.edge.v1.files.$get({ query: {} })).text();
      expect(threads).not.toContain(threadId);
      expect(files).not.toContain(fileId);
    }
  });
});
