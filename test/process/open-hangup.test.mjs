// A caller who hangs up while its run's upstream is still opening (the upstream took the
// run and holds its headers back): the Worker has not answered yet, so nothing is ever
// written to that caller, and only the request's abort signal tells that it left. The
// run must not count that caller as a reader: a chat's next message (the AI SDK's stop()
// hangs up) ends the abandoned run and is served at once, and a plain run detaches and
// is cancelled after the grace, both long before the upstream's headers would come.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { chatBody, describe, poll, startStack, tenantConfig, untilText } from './harness.mjs';

const TENANT = 'openhangup';
/** The upstream's headers come this late: far past every wait of these tests. */
const HEADERS_DELAY_MS = 8_000;
const DETACH_GRACE_MS = 1_500;
const REPLY = 'one two three';

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'open-hangup',
    tenants: { [TENANT]: tenantConfig({ limits: { streams_per_user: 1 } }) },
    vars: {
      RUN_DETACH_GRACE_MS: String(DETACH_GRACE_MS),
      STREAM_PING_MS: '2000', // the header grace: the hang-ups come well within it
      STREAM_FIRST_BYTE_TIMEOUT_MS: '20000',
    },
    knobs: { reply: REPLY, stream: { pace_ms: 20 } },
  });
});

after(() => stack?.stop());

/**
 * Starts a request whose run's upstream holds its headers back, and hangs up (a reset)
 * once the upstream has the run and 300 ms more have passed. Resolves to the emulator's
 * stats before the request and the time of the hang-up.
 */
async function abandonWhileOpening(route, sub, json) {
  await stack.emulator.configure({ stream: { delay_headers_ms: HEADERS_DELAY_MS } });
  const before = await stack.emulator.stats();
  const opened = poll(
    () => stack.emulator.stats(),
    (s) => s.streams_opened > before.streams_opened,
    { timeoutMs: 5_000 },
  ).then(() => new Promise((resolve) => setTimeout(resolve, 300)));
  const left = await stack.hangUpBeforeAnswer('POST', route, { as: [TENANT, sub], json, when: opened });
  // Later runs get their headers at once; the abandoned one still waits out its delay.
  await stack.emulator.configure({ stream: { delay_headers_ms: 0 } });
  assert.equal(left.answered, false, 'the caller hung up before the Worker answered');
  return { before, leftAt: Date.now() };
}

test('a chat message after a hang-up during the open is served at once, the abandoned run cancelled upstream', async () => {
  const [sub, chat] = ['opener', `chat_${randomUUID().slice(0, 8)}`];
  const { before, leftAt } = await abandonWhileOpening('/v1/chat', sub, chatBody(chat, 'hi'));
  // One try, at once: the hang-up has to be known by then (no waiting for a write or the grace).
  await new Promise((resolve) => setTimeout(resolve, 200));
  const next = await stack.openStream('POST', '/v1/chat', {
    as: [TENANT, sub],
    json: chatBody(chat, 'again'),
  });
  if (!next.isEventStream) await next.closed;
  assert.ok(next.isEventStream, `the next turn: ${describe(next)}`);
  assert.ok(await untilText(next), 'the next answer began');
  assert.ok(Date.now() - leftAt < HEADERS_DELAY_MS / 2, 'served long before the headers would have come');
  const stats = await poll(
    () => stack.emulator.stats(),
    (s) => s.streams_cancelled > before.streams_cancelled,
    { timeoutMs: 2_000 },
  );
  assert.ok(stats.ok, 'the abandoned run’s upstream request was cancelled');
  for (let frame = await next.next(); frame; frame = await next.next());
  const after = await stack.emulator.stats();
  assert.equal(
    after.streams_opened - before.streams_opened,
    2,
    'two upstream streams: the abandoned and the next',
  );
  assert.equal(after.streams_completed - before.streams_completed, 1, 'only the next one ran to its end');
});

test('a chat message after a hang-up during the open, while another tab reads the run: 409, the reader goes on', async () => {
  const [sub, chat] = ['watched', `chat_${randomUUID().slice(0, 8)}`];
  /** @type {import('./harness.mjs').SseStream | undefined} */
  let tab;
  // The other tab attaches (the SDK's resume) while the run opens, then the starter hangs up.
  const watched = (async () => {
    const resumed = await poll(
      async () => {
        const stream = await stack.openStream('GET', `/v1/chat/${chat}/stream`, { as: [TENANT, sub] });
        if (stream.status !== 200) await stream.closed;
        return stream;
      },
      (stream) => stream.status === 200,
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    tab = resumed.value;
    await new Promise((resolve) => setTimeout(resolve, 300));
  })();
  await stack.emulator.configure({ stream: { delay_headers_ms: 2_500 } });
  const left = await stack.hangUpBeforeAnswer('POST', '/v1/chat', {
    as: [TENANT, sub],
    json: chatBody(chat, 'hi'),
    when: watched,
  });
  await stack.emulator.configure({ stream: { delay_headers_ms: 0 } });
  assert.equal(left.answered, false, 'the caller hung up before the Worker answered');
  assert.ok(tab?.isEventStream, 'the other tab reads the run');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const next = await stack.request('POST', '/v1/chat', { as: [TENANT, sub], json: chatBody(chat, 'again') });
  assert.equal(next.status, 409, describe(next));
  assert.equal(next.json?.code, 'RUN_IN_PROGRESS');
  // The reader still gets the whole answer once the upstream's headers come.
  assert.ok(tab && (await untilText(tab)), 'the other tab still streams');
  const types = [];
  for (let frame = await tab.next(); frame; frame = await tab.next())
    types.push(frame.json?.type ?? frame.data);
  assert.deepEqual(types.slice(-2), ['finish', '[DONE]'], `the rest: ${types.join(',')}`);
});

test('a run whose caller hung up during the open detaches: cancelled after the grace, its slot freed', async () => {
  const sub = 'runner';
  const threadId = await stack.createThread(TENANT, sub);
  const { before, leftAt } = await abandonWhileOpening(`/v1/threads/${threadId}/run`, sub, { message: 'hi' });
  const stats = await poll(
    () => stack.emulator.stats(),
    (s) => s.streams_cancelled > before.streams_cancelled,
    { timeoutMs: DETACH_GRACE_MS + 2_000 },
  );
  assert.ok(stats.ok, `the upstream request was not cancelled within ${stats.ms} ms`);
  assert.ok(
    Date.now() - leftAt < HEADERS_DELAY_MS - 2_000,
    'cancelled long before the headers would have come',
  );
  const usage = await poll(
    () => stack.usage(TENANT, sub),
    (u) => u.streams.yours === 0,
    { timeoutMs: 2_000 },
  );
  assert.equal(usage.value.streams.yours, 0, 'the slot is free');
  // Past the headers' delay: the abandoned upstream stream never ran to its end.
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, leftAt + HEADERS_DELAY_MS + 500 - Date.now())),
  );
  const after = await stack.emulator.stats();
  assert.equal(after.streams_completed - before.streams_completed, 0, 'no upstream stream completed');
  const runs = await stack.request('GET', `/v1/threads/${threadId}/runs`, { as: [TENANT, sub] });
  assert.equal(runs.json?.runs?.[0]?.status, 'cancelled', describe(runs));
});
