// The operator's purge of a user's threads, from outside: the Worker under `workerd serve`
// with its D1 registry, driven by the admin CLI (`npm run admin -- delete-threads`) while
// one of the user's runs streams to a real connection. The CLI deletes every thread, the
// streaming caller hears RUN_CANCELLED, the user's quota and slot are back, and another
// user's thread is untouched. A thread the upstream refuses is counted in the summed `failed`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { describe, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'purge';

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'purge',
    tenants: { [TENANT]: tenantConfig() },
    knobs: { reply: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), stream: { pace_ms: 150 } },
  });
});

after(() => stack?.stop());

/** `npm run admin -- <args>` against the stack; resolves to its stdout, rejects on a non-zero exit. */
function cli(args) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['scripts/admin.mjs', ...args],
      { env: { ...process.env, EDGE_URL: stack.url, EDGE_ADMIN_KEY: stack.adminKey }, timeout: 20_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

test('delete-threads deletes a user’s threads, cancelling the run one of them streams', {
  timeout: 60_000,
}, async () => {
  const threads = [];
  for (let i = 0; i < 3; i++) threads.push(await stack.createThread(TENANT, 'alice'));
  const bobs = await stack.createThread(TENANT, 'bob');
  const stream = await stack.openStream('POST', `/v1/threads/${threads[0]}/run`, {
    as: [TENANT, 'alice'],
    json: { message: 'long' },
  });
  assert.ok(stream.isEventStream, describe(stream));
  assert.equal((await stream.next())?.event, 'start');

  const answer = JSON.parse(await cli(['delete-threads', TENANT, 'alice']));
  assert.deepEqual(answer, { tenant: TENANT, user: 'alice', deleted: 3, failed: 0, remaining: 0 });
  // The run ended before the purge answered: what is left of the stream ends RUN_CANCELLED.
  let last;
  for (let event = await stream.next(); event; event = await stream.next()) last = event;
  assert.equal(last?.event, 'error');
  assert.equal(last?.json?.code, 'RUN_CANCELLED');

  const usage = await stack.request('GET', '/v1/usage', { as: [TENANT, 'alice'] });
  assert.equal(usage.json?.threads?.yours, 0, describe(usage));
  assert.equal(usage.json?.streams?.yours, 0, describe(usage));
  for (const thread of threads) {
    assert.equal(
      (await stack.request('GET', `/v1/threads/${thread}`, { as: [TENANT, 'alice'] })).status,
      404,
    );
  }
  assert.equal((await stack.request('GET', `/v1/threads/${bobs}`, { as: [TENANT, 'bob'] })).status, 200);
  const audit = await stack.admin('GET', `/audit?tenant=${TENANT}`);
  assert.deepEqual(audit.json?.entries?.[0]?.detail, { deleted: 3 });
});

test('delete-threads sums `failed` over its calls, as it sums `deleted`', { timeout: 60_000 }, async () => {
  const threads = [];
  for (let i = 0; i < 3; i++) threads.push(await stack.createThread(TENANT, 'carol'));
  // The upstream refuses one of them every time: the first call deletes the other two and
  // fails it, the second fails it again and deletes nothing, which ends the CLI's loop.
  await stack.emulator.configure({
    status_overrides: [{ method: 'DELETE', path: `/threads/${threads[1]}`, status: 403 }],
  });
  try {
    const answer = JSON.parse(await cli(['delete-threads', TENANT, 'carol']));
    assert.deepEqual(answer, { tenant: TENANT, user: 'carol', deleted: 2, failed: 2, remaining: 1 });
  } finally {
    await stack.emulator.configure({ status_overrides: [] });
  }
  const kept = await stack.request('GET', `/v1/threads/${threads[1]}`, { as: [TENANT, 'carol'] });
  assert.equal(kept.status, 200, describe(kept));
});
