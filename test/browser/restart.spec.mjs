// `npm start` twice on the same Durable Object state folder (issue 12, item 2): the
// emulator starts empty every time, so the Worker's state must too, or the second
// emulator's `thread_1` collides with the first one's still recorded by the Worker.
// Run by run.mjs, after the browser spec.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startStack } from './stack.mjs';

let stack;
let state;

after(async () => {
  await stack?.stop();
  if (state) await rm(state, { recursive: true, force: true });
});

async function createThread({ worker, token }) {
  const res = await fetch(`${worker}/v1/threads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  return { status: res.status, body: await res.json() };
}

async function listThreads({ worker, token }) {
  const res = await fetch(`${worker}/v1/threads`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()).threads.map((t) => t.thread_id);
}

test('a restarted stack creates threads again and lists only what the emulator has', {
  timeout: 240_000,
}, async () => {
  state = await mkdtemp(join(tmpdir(), 'edge-restart-state-'));
  stack = await startStack({ state });
  for (let i = 0; i < 2; i += 1) {
    const created = await createThread(stack);
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  assert.equal((await listThreads(stack)).length, 2);
  await stack.stop();
  // Wrangler wrote its state there: the restart below really reuses a persisted folder.
  assert.ok((await readdir(state)).includes('v3'));

  stack = await startStack({ state });
  const second = await createThread(stack);
  assert.equal(second.status, 201, JSON.stringify(second.body));
  // The Worker's records match the fresh emulator: one thread, not a stale one beside it.
  assert.deepEqual(await listThreads(stack), [second.body.thread_id]);
});
