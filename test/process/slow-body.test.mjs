// Issue 11, "bad input never costs": a run request whose body is slow to arrive must
// hold no stream slot while the gateway waits for it (contract section 5: a slot is
// taken only after the body has been read and validated). No HTTP client sends half a
// body and stops, so these requests are written on raw TCP connections.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describe, poll, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'slowbody';
const SLOTS = 4;
const BODY = '{"message":"hey","stream":true}';
const SENT = 5;

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'slow-body',
    tenants: { [TENANT]: tenantConfig({ limits: { concurrent_streams: SLOTS } }) },
    knobs: { stream: { pace_ms: 200 } },
  });
});

after(() => stack?.stop());

test('4 run requests stalled mid-body hold no slot: a normal run is admitted meanwhile', async () => {
  assert.equal(Buffer.byteLength(BODY), 31);
  const host = new URL(stack.url).host;
  const stalled = [];
  for (let i = 0; i < SLOTS; i++) {
    // One user and thread each: only the tenant's concurrent_streams is in play.
    const user = `slow-${i}`;
    const threadId = await stack.createThread(TENANT, user);
    const conn = await stack.connect();
    await conn.write(
      `POST /v1/threads/${threadId}/run HTTP/1.1\r\nHost: ${host}\r\n` +
        `Authorization: Bearer ${await stack.token(TENANT, user)}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n` +
        BODY.slice(0, SENT),
    );
    stalled.push(conn);
  }
  const before = await stack.emulator.stats();

  // Give the Worker a moment with the four (it has their headers): if admission takes a
  // slot before reading the body, usage shows it within this second (today's bug).
  const held = await poll(
    () => stack.usage(TENANT, 'observer'),
    (u) => u.streams.active >= SLOTS,
    { timeoutMs: 1000 },
  );

  const threadId = await stack.createThread(TENANT, 'normal');
  const run = await stack.run(TENANT, 'normal', threadId);
  if (!run.isEventStream) await run.closed;
  assert.ok(
    run.isEventStream,
    `a normal run while ${SLOTS} bodies stall: expected 200 text/event-stream, got ${describe(run)} ` +
      `(usage showed ${held.value.streams.active} active streams while nothing but the stalled requests ran)`,
  );
  assert.equal((await run.next())?.event, 'start', 'the normal run streams');

  // The four were still waiting for their bodies: nothing answered them, nothing closed them.
  for (const [i, conn] of stalled.entries()) {
    assert.equal(conn.received, '', `stalled request ${i + 1} got an answer already`);
    assert.equal(conn.isClosed, false, `stalled request ${i + 1} was closed already`);
  }
  // And none of them reached the upstream: the one run upstream is the normal one.
  const stats = await stack.emulator.stats();
  const runs = (/** @type {Record<string, number>} */ s) => s['POST /threads/:thread_id/run'] ?? 0;
  assert.equal(runs(stats.requests) - runs(before.requests), 1, 'upstream run requests');
  await run.abort();
});
