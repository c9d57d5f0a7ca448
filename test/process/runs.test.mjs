// Issue 13, durable runs, against the Worker under `workerd serve`: a run outlives its
// connection. The callers here hang up for real (the TCP connection is destroyed) and come
// back, the way a phone that switches networks does.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describe, poll, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'runs';
const WORDS = 30;
const REPLY = Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' ');

/** @type {import('./harness.mjs').Stack} */
let stack;
let users = 0;

before(async () => {
  stack = await startStack({
    name: 'runs',
    tenants: { [TENANT]: tenantConfig({ limits: { concurrent_streams: 8, streams_per_user: 4 } }) },
    // Long enough to come back in; short enough that the grace test ends quickly (a run
    // takes 30 × 120 ms = 3.6 s, longer than leaving after 3 events plus the grace).
    vars: { RUN_DETACH_GRACE_MS: '1500' },
    knobs: { reply: REPLY, stream: { pace_ms: 120 } },
  });
});

after(() => stack?.stop());

/** A fresh user with a thread of their own. */
async function newUser() {
  const user = `runner-${++users}`;
  return { user, threadId: await stack.createThread(TENANT, user) };
}

/** Reads `n` events (pings are comments, never events). */
async function take(stream, n) {
  const events = [];
  for (let i = 0; i < n; i++) {
    const event = await stream.next();
    assert.ok(event, `stream ended after ${events.length} events`);
    events.push(event);
  }
  return events;
}

/** Reads to the end. */
async function rest(stream) {
  const events = [];
  for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
  return events;
}

const seq = (events) => events.map((e) => Number(e.id?.split(':')[1]));
const text = (events) =>
  events
    .filter((e) => e.event === 'content')
    .map((e) => e.json.delta)
    .join('');

/** Starts a run and reads its first three events, then hangs up. */
async function leaveAfterThree(user, threadId, headers = {}) {
  const stream = await stack.openStream('POST', `/v1/threads/${threadId}/run`, {
    as: [TENANT, user],
    json: { message: 'go' },
    headers,
  });
  assert.ok(stream.isEventStream, describe(stream));
  const runId = String(stream.headers['x-run-id']);
  assert.match(runId, /^run_[a-f0-9]{32}$/);
  const first = await take(stream, 3);
  assert.deepEqual(seq(first), [1, 2, 3]);
  stream.abort();
  return { runId, first };
}

/** Waits until `done(probe())`, failing the test with `what` after `timeoutMs`. */
async function waitFor(probe, done, timeoutMs, what) {
  const result = await poll(probe, done, { timeoutMs });
  assert.ok(result.ok, `${what}: still ${JSON.stringify(result.value)} after ${result.ms} ms`);
}

async function runsStarted() {
  return (await stack.emulator.stats()).runs;
}

test('a caller who hangs up after event 3 resumes with Last-Event-ID: events 4..end once, one done, one upstream run', async () => {
  const { user, threadId } = await newUser();
  const before = await runsStarted();
  const { runId, first } = await leaveAfterThree(user, threadId);
  const resumed = await stack.openStream('GET', `/v1/threads/${threadId}/runs/${runId}/events`, {
    as: [TENANT, user],
    headers: { 'last-event-id': `${runId}:3` },
  });
  assert.ok(resumed.isEventStream, describe(resumed));
  const restOf = await rest(resumed);
  assert.deepEqual(
    seq(restOf),
    restOf.map((_, i) => i + 4),
  );
  assert.equal(restOf.filter((e) => e.event === 'done').length, 1);
  assert.equal(restOf.at(-1)?.event, 'done');
  assert.equal(
    text([...first, ...restOf])
      .trim()
      .split(/\s+/).length,
    WORDS,
  );
  assert.equal((await runsStarted()) - before, 1);
});

test('a re-POST carrying Last-Event-ID attaches instead of starting (and paying for) another run', async () => {
  const { user, threadId } = await newUser();
  const before = await runsStarted();
  const { runId } = await leaveAfterThree(user, threadId);
  const again = await stack.openStream('POST', `/v1/threads/${threadId}/run`, {
    as: [TENANT, user],
    json: { message: 'go' },
    headers: { 'last-event-id': `${runId}:3` },
  });
  assert.equal(String(again.headers['x-run-id']), runId);
  const restOf = await rest(again);
  assert.deepEqual(
    seq(restOf),
    restOf.map((_, i) => i + 4),
  );
  assert.equal(restOf.at(-1)?.event, 'done');
  assert.equal((await runsStarted()) - before, 1);
});

test('an Idempotency-Key re-POST attaches to the run it started, from its first event', async () => {
  const { user, threadId } = await newUser();
  const before = await runsStarted();
  const key = { 'idempotency-key': `key-${users}` };
  const { runId } = await leaveAfterThree(user, threadId, key);
  const again = await stack.openStream('POST', `/v1/threads/${threadId}/run`, {
    as: [TENANT, user],
    json: { message: 'go' },
    headers: key,
  });
  assert.equal(String(again.headers['x-run-id']), runId);
  const all = await rest(again);
  assert.deepEqual(
    seq(all),
    all.map((_, i) => i + 1),
  );
  assert.equal(all.at(-1)?.event, 'done');
  assert.equal((await runsStarted()) - before, 1);
  const conflict = await stack.request('POST', `/v1/threads/${threadId}/run`, {
    as: [TENANT, user],
    json: { message: 'something else' },
    headers: key,
  });
  assert.equal(conflict.status, 409, describe(conflict));
  assert.equal(conflict.json.code, 'IDEMPOTENCY_CONFLICT');
});

test('two callers attached to one run both get every event, in order, once', async () => {
  const { user, threadId } = await newUser();
  const first = await stack.run(TENANT, user, threadId, 'go');
  const runId = String(first.headers['x-run-id']);
  const second = await stack.openStream('GET', `/v1/threads/${threadId}/runs/${runId}/events`, {
    as: [TENANT, user],
  });
  const [a, b] = await Promise.all([rest(first), rest(second)]);
  assert.deepEqual(
    seq(a),
    a.map((_, i) => i + 1),
  );
  assert.deepEqual(
    b.map((e) => e.id),
    a.map((e) => e.id),
  );
  assert.equal(a.at(-1)?.event, 'done');
});

test('a second run while one is running is 409 RUN_IN_PROGRESS naming it', async () => {
  const { user, threadId } = await newUser();
  const first = await stack.run(TENANT, user, threadId, 'go');
  const runId = String(first.headers['x-run-id']);
  const busy = await stack.request('POST', `/v1/threads/${threadId}/run`, {
    as: [TENANT, user],
    json: { message: 'again' },
  });
  assert.equal(busy.status, 409, describe(busy));
  assert.equal(busy.json.code, 'RUN_IN_PROGRESS');
  assert.match(busy.json.detail, new RegExp(runId));
  await stack.request('POST', `/v1/threads/${threadId}/runs/${runId}/cancel`, { as: [TENANT, user] });
  await rest(first);
});

test('cancel stops the upstream within a second and ends attached streams with RUN_CANCELLED', async () => {
  const { user, threadId } = await newUser();
  const before = (await stack.emulator.stats()).streams_cancelled;
  const stream = await stack.run(TENANT, user, threadId, 'go');
  const runId = String(stream.headers['x-run-id']);
  await take(stream, 2);
  const started = Date.now();
  const cancelled = await stack.request('POST', `/v1/threads/${threadId}/runs/${runId}/cancel`, {
    as: [TENANT, user],
  });
  assert.equal(cancelled.status, 202, describe(cancelled));
  const restOf = await rest(stream);
  assert.equal(restOf.at(-1)?.event, 'error');
  assert.equal(restOf.at(-1)?.json.code, 'RUN_CANCELLED');
  await waitFor(
    async () => (await stack.emulator.stats()).streams_cancelled,
    (n) => n === before + 1,
    1000,
    'the upstream stream cancelled',
  );
  assert.ok(Date.now() - started < 1500);
  const status = await stack.request('GET', `/v1/threads/${threadId}/runs/${runId}`, { as: [TENANT, user] });
  assert.equal(status.json.status, 'cancelled');
});

test('nobody back within the grace: the upstream is cancelled and the slot freed', async () => {
  const { user, threadId } = await newUser();
  const before = (await stack.emulator.stats()).streams_cancelled;
  const { runId } = await leaveAfterThree(user, threadId);
  await waitFor(
    async () => (await stack.emulator.stats()).streams_cancelled,
    (n) => n === before + 1,
    4000,
    'the upstream stream cancelled after the grace',
  );
  await waitFor(
    async () => (await stack.usage(TENANT, user)).streams.yours,
    (n) => n === 0,
    2000,
    'the slot freed',
  );
  const status = await stack.request('GET', `/v1/threads/${threadId}/runs/${runId}`, { as: [TENANT, user] });
  assert.equal(status.json.status, 'cancelled');
});
