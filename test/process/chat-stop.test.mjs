// The AI SDK's stop() only hangs up: the chat's run goes on detached (a reconnect may
// come back for it). The user's next message must not wait out RUN_DETACH_GRACE_MS for
// the slot or the thread that run holds: it ends the stopped run and is served. The
// vitest pool cannot show this (its requests never really disconnect).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { chatBody, describe, poll, startStack, tenantConfig, untilText } from './harness.mjs';

const TENANT = 'chatstop';
const TIGHT = 'chatstoprate';
/** Far longer than the test waits: a next message that waited for it would time out. */
const DETACH_GRACE_MS = 60_000;
/** The hang-up is noticed at the next write; the upstream writes every 200 ms. */
const SERVED_WITHIN_MS = 5_000;

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'chat-stop',
    tenants: {
      [TENANT]: tenantConfig({ limits: { streams_per_user: 1 } }),
      // Two requests' worth of rate, refilled once a minute: the turn, then the next one.
      [TIGHT]: tenantConfig({ limits: { streams_per_user: 1, burst: 2, requests_per_minute: 1 } }),
    },
    vars: { RUN_DETACH_GRACE_MS: String(DETACH_GRACE_MS), STREAM_PING_MS: '1000' },
    knobs: { reply: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' '), stream: { pace_ms: 200 } },
  });
});

after(() => stack?.stop());

/** One turn of chat `id` as `sub` (of `tenant`), as DefaultChatTransport posts it. */
const turn = (sub, id, text, tenant = TENANT) =>
  stack.openStream('POST', '/v1/chat', {
    as: [tenant, sub],
    json: chatBody(id, text),
  });

test('a message after stop() is served at once, at streams_per_user 1, the stopped run cancelled', async () => {
  const [sub, chat] = ['stopper', `chat_${randomUUID().slice(0, 8)}`];
  const first = await turn(sub, chat, 'hi');
  assert.ok(first.isEventStream, describe(first));
  assert.ok(await untilText(first), 'the first answer began');
  const before = await stack.emulator.stats();
  await first.abort();

  /** @type {import('./harness.mjs').SseStream | undefined} */
  let next;
  const served = await poll(
    async () => {
      const stream = await turn(sub, chat, 'again');
      if (stream.isEventStream) next = stream;
      else await stream.closed;
      return stream;
    },
    (stream) => stream.isEventStream,
    { timeoutMs: SERVED_WITHIN_MS, intervalMs: 200 },
  );
  assert.ok(served.ok, `the next turn: ${describe(served.value)} ${served.ms} ms after the stop`);
  assert.ok(next && (await untilText(next)), 'the next answer began');
  // The stopped run's upstream stream was cancelled, not read to its end.
  const after = await stack.emulator.stats();
  assert.ok(after.streams_cancelled > before.streams_cancelled, 'the stopped run was cancelled upstream');
  await next?.abort();
});

test('a message while another tab still reads the run is refused 409 RUN_IN_PROGRESS, not ended', async () => {
  const [sub, chat] = ['reader', `chat_${randomUUID().slice(0, 8)}`];
  const first = await turn(sub, chat, 'hi');
  assert.ok(first.isEventStream, describe(first));
  assert.ok(await untilText(first));
  const second = await turn(sub, chat, 'again');
  await second.closed;
  assert.equal(second.status, 409, describe(second));
  assert.equal(JSON.parse(second.text).code, 'RUN_IN_PROGRESS');
  // The reader still gets its answer, not the run's end.
  assert.ok(await untilText(first), 'the first tab still streams');
  await first.abort();
});

test('the message after stop() with the last rate token left is served: its retry takes no second token', async () => {
  const [sub, chat] = ['lasttoken', `chat_${randomUUID().slice(0, 8)}`];
  const first = await turn(sub, chat, 'hi', TIGHT);
  assert.ok(first.isEventStream, describe(first));
  assert.ok(await untilText(first), 'the first answer began');
  await first.abort();
  // Long enough for the hang-up to be noticed (the next upstream write, 200 ms): one try only.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const next = await turn(sub, chat, 'again', TIGHT);
  if (!next.isEventStream) await next.closed;
  assert.ok(next.isEventStream, `the next turn: ${describe(next)}`);
  assert.ok(await untilText(next), 'the next answer began');
  await next.abort();
});
