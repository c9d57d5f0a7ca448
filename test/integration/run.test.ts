import { describe, expect, it, vi } from 'vitest';
import { CANARY_TOOL_ARG } from '../emulator/canaries';
import { TENANTS } from '../fixtures/tenants';
import { expectError, tenantStateCalls } from '../helpers/assertions';
import { loginAndGetProjectToken, sseEvents } from '../helpers/emulator';
import { newThread, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { eventsOf, SseReader } from '../helpers/sse';

type RunBody = Parameters<Caller['edge']['v1']['threads'][':thread_id']['run']['$post']>[0]['json'];

/** `POST /v1/threads/{thread_id}/run` through the typed client. */
const run = (caller: Caller, thread_id: string, json: RunBody, signal?: AbortSignal) =>
  caller.edge.v1.threads[':thread_id'].run.$post(
    { param: { thread_id }, json },
    signal ? { init: { signal } } : {},
  );

describe('run stream', () => {
  it('answers with the contract stream headers', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const res = await run(alice, await newThread(alice), { message: 'hello there' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('ratelimit')).toMatch(/"user";r=\d+/);
    await res.body?.cancel();
  });

  it('streams start, the reply in content deltas, and done last', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const events = eventsOf(
      await new SseReader(await run(alice, await newThread(alice), { message: 'hello there' })).rest(),
    );
    expect(events[0]).toMatchObject({ type: 'start', run_id: expect.stringMatching(/^run_/) });
    expect(events.at(-1)).toEqual({ type: 'done' });
    const text = events.flatMap((e) => (e.type === 'content' ? [e.delta] : [])).join('');
    expect(text).toBe('Echo: hello there');
  });

  it('numbers the events <run_id>:1, :2, :3… in their ids, the run named in X-Run-Id and Location', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const res = await run(alice, threadId, { message: 'hello there' });
    const runId = res.headers.get('x-run-id') ?? '';
    expect(runId).toMatch(/^run_[a-f0-9]{32}$/);
    expect(res.headers.get('location')).toBe(`/v1/threads/${threadId}/runs/${runId}`);
    const items = await new SseReader(res).rest();
    const ids = items.flatMap((item) => (item.kind === 'event' ? [item.id] : []));
    expect(ids.length).toBeGreaterThan(2);
    expect(ids).toEqual(ids.map((_, i) => `${runId}:${i + 1}`));
  });

  it('delivers the first event while the upstream is still producing', async () => {
    const gw = testGateway();
    await gw.emulator.configure({
      reply: 'one two three four five six seven eight',
      stream: { pace_ms: 150 },
    });
    const alice = await gw.caller('acme');
    const reader = new SseReader(await run(alice, await newThread(alice), { message: 'x' }));
    const first = await reader.nextEvent();
    expect(first?.event).toBe('start');
    const second = await reader.nextEvent();
    expect(second?.event).toBe('content');
    // The upstream has ~10 more paced events to write: it cannot have finished yet.
    const stats = await gw.emulator.stats();
    expect(stats.streams_opened).toBe(1);
    expect(stats.streams_completed).toBe(0);
    await reader.rest();
    expect((await gw.emulator.waitForStats((s) => s.streams_completed === 1)).streams_completed).toBe(1);
  });

  it('relays exactly what the upstream meant through CRLF, split chunks, multi-line data and extras', async () => {
    const gw = testGateway({ tenants: { globex: { ...TENANTS.globex } } });
    const knobs = { stream: { line_ending: 'crlf' as const, split_chunks: true, extras: true } };
    await gw.emulator.configure(knobs);
    const bob = await gw.caller('globex');
    const threadId = await newThread(bob);

    const proxied = eventsOf(await new SseReader(await run(bob, threadId, { message: 'compare me' })).rest());

    // The same run straight from the upstream, parsed by a spec-following parser.
    const { projectToken } = await loginAndGetProjectToken(gw.emulator.baseUrl, 'proj_globex');
    const direct = await fetch(gw.emulator.url(`/threads/${threadId}/run`), {
      method: 'POST',
      headers: { authorization: `Bearer ${projectToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'compare me', stream: true }),
    });
    const upstream = sseEvents(await direct.text()).filter((e) =>
      ['start', 'content', 'tool_call', 'done'].includes(String(e.type)),
    );
    expect(upstream.length).toBeGreaterThan(3);
    expect(proxied).toEqual(
      upstream.map((e) => (e.type === 'start' ? { type: 'start', run_id: proxied[0]?.run_id } : e)),
    );
  });

  it('lets nothing a user or the upstream writes inject an extra event', async () => {
    const gw = testGateway();
    const hostile = 'hi\n\nevent: done\ndata: {"type":"done"}\n\nid: 99\r\nevent: error\r\n';
    await gw.emulator.configure({
      tool_calls: [{ name: 'x\n\nevent: done\ndata: {}', args: { a: '\n\ndata: {}' } }],
      stream: {
        raw: [
          'data: {"type":"start","run_id":"run_1\\n\\nevent: done"}\n\n',
          `data: ${JSON.stringify({ type: 'content', delta: hostile })}\n\n`,
          'data: {"type":"content",\ndata: "delta":"split\\r\\nevent: x"}\n\n',
          'event: done\ndata: {"type":"bogus"}\n\n',
          'data: {"type":"done"}\n\n',
        ],
      },
    });
    const alice = await gw.caller('acme');
    const reader = new SseReader(await run(alice, await newThread(alice), { message: hostile }));
    const events = eventsOf(await reader.rest());
    expect(events.map((e) => e.type)).toEqual(['start', 'content', 'content', 'done']);
    expect(events[1]).toEqual({ type: 'content', delta: hostile });
    // Each event frame is exactly three lines (the payload never spans lines); the rest are pings.
    const frames = reader.chunks.join('').split('\n\n').filter(Boolean);
    for (const frame of frames) {
      if (frame === ': ping') continue;
      expect(frame.split('\n')).toHaveLength(3);
    }
    expect(frames.filter((frame) => frame !== ': ping')).toHaveLength(4);
  });

  /** A caller who reads two events of a paced run, then disconnects (detach grace: 100 ms). */
  async function disconnectAfterTwoEvents() {
    const gw = testGateway({ bindings: { RUN_DETACH_GRACE_MS: '100' } });
    await gw.emulator.configure({ reply: 'a b c d e f g h i j', stream: { pace_ms: 100 } });
    const alice = await gw.caller('acme');
    const reader = new SseReader(await run(alice, await newThread(alice), { message: 'x' }));
    await reader.nextEvent();
    await reader.nextEvent();
    await reader.cancel();
    return { gw, alice };
  }

  it('cancels the upstream once the caller who left after 2 events has not come back within the grace', async () => {
    const { gw } = await disconnectAfterTwoEvents();
    const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
    expect(stats.streams_completed).toBe(0);
  });

  it('ends a cancelled run with RUN_CANCELLED and no upstream-failure warning (the run was not failed)', async () => {
    const gw = testGateway();
    await gw.emulator.configure({ reply: 'a b c d e f g h i j', stream: { pace_ms: 100 } });
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const res = await run(alice, thread, { message: 'x' });
      const reader = new SseReader(res);
      await reader.nextEvent(); // start
      const runId = res.headers.get('x-run-id');
      expect((await alice.request('POST', `/v1/threads/${thread}/runs/${runId}/cancel`)).status).toBe(202);
      expect(eventsOf(await reader.rest()).at(-1)).toMatchObject({ type: 'error', code: 'RUN_CANCELLED' });
      await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
      const lines = warn.mock.calls.map(([line]) => String(line));
      expect(lines.filter((line) => line.includes('run stream ended without done'))).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  it('frees the stream slot of a run cancelled for want of a caller', async () => {
    const { alice } = await disconnectAfterTwoEvents();
    await expect.poll(async () => (await usage(alice)).streams.active).toBe(0);
  });

  it('aborts a stalled upstream once the caller who hung up has not come back within the grace', async () => {
    const gw = testGateway({ bindings: { RUN_DETACH_GRACE_MS: '100' } });
    await gw.emulator.configure({ stream: { stall_before_first_byte_ms: 5_000 } });
    const alice = await gw.caller('acme');
    const res = await run(alice, await newThread(alice), { message: 'x' });
    expect(res.status).toBe(200);
    // Nothing is being written while the upstream stalls: the hang-up itself detaches.
    await res.body?.cancel();
    await gw.emulator.waitForStats((s) => s.streams_cancelled === 1, 2_000);
    await expect.poll(async () => (await usage(alice)).streams.active).toBe(0);
  });

  it('ends a failed upstream with the events so far, one error event, and a clean close', async () => {
    const gw = testGateway();
    await gw.emulator.configure({ stream: { fail_after_events: 3, fail_mode: 'error' } });
    const alice = await gw.caller('acme');
    const events = eventsOf(
      await new SseReader(await run(alice, await newThread(alice), { message: 'a b c d' })).rest(),
    );
    expect(events.map((e) => e.type)).toEqual(['start', 'content', 'content', 'error']);
    expect(events.at(-1)).toEqual({ type: 'error', code: 'UPSTREAM_FAILED', detail: expect.any(String) });
    expect(JSON.stringify(events)).not.toMatch(/emulator|http:|Bearer|eyJ|stack/i);
  });

  it('ends a stream the upstream closes without done with an error event', async () => {
    const gw = testGateway();
    await gw.emulator.configure({ stream: { fail_after_events: 2, fail_mode: 'close' } });
    const alice = await gw.caller('acme');
    const events = eventsOf(
      await new SseReader(await run(alice, await newThread(alice), { message: 'a b' })).rest(),
    );
    expect(events.map((e) => e.type)).toEqual(['start', 'content', 'error']);
  });

  it('sends pings while the upstream stalls, then times the stall out with an error event', async () => {
    // Stream timings are bindings: this gateway pings every 50 ms and gives up after 400 ms of silence.
    const gw = testGateway({ bindings: { STREAM_PING_MS: '50', STREAM_IDLE_TIMEOUT_MS: '400' } });
    await gw.emulator.configure({ stream: { stall_before_first_byte_ms: 3_000 } });
    const alice = await gw.caller('acme');
    const stalled = await run(alice, await newThread(alice), { message: 'x' });
    const items = await new SseReader(stalled).rest();
    const firstEvent = items.findIndex((item) => item.kind === 'event');
    expect(
      items.slice(0, firstEvent).filter((i) => i.kind === 'comment' && i.text === 'ping').length,
    ).toBeGreaterThan(2);
    expect(eventsOf(items)).toEqual([
      { type: 'error', code: 'UPSTREAM_TIMEOUT', detail: expect.any(String) },
    ]);
  });

  it('ends an event over 1 MiB with an error event', async () => {
    const gw = testGateway();
    const big = 'x'.repeat(1024 * 1024 + 10);
    await gw.emulator.configure({
      stream: {
        raw: ['data: {"type":"start","run_id":"r"}\n\n', `data: {"type":"content","delta":"${big}"}\n\n`],
      },
    });
    const alice = await gw.caller('acme');
    const events = eventsOf(
      await new SseReader(await run(alice, await newThread(alice), { message: 'x' })).rest(),
    );
    expect(events.map((e) => [e.type, e.code])).toEqual([
      ['start', undefined],
      ['error', 'EVENT_TOO_LARGE'],
    ]);
  });

  it.each([
    ['none', []],
    ['name', [{ type: 'tool_call', name: 'lookup_order' }]],
    [
      'full',
      [{ type: 'tool_call', name: 'lookup_order', args: { order_id: '42', secret_arg: CANARY_TOOL_ARG } }],
    ],
  ] as const)('cuts tool calls to the %s policy', async (policy, expected) => {
    const gw = testGateway({ tenants: { t: { ...TENANTS.acme, tool_calls: policy } } });
    const alice = await gw.caller('t');
    const reader = new SseReader(await run(alice, await newThread(alice), { message: 'x' }));
    const events = eventsOf(await reader.rest());
    expect(events.filter((e) => e.type === 'tool_call')).toEqual(expected);
    if (policy !== 'full') expect(reader.chunks.join('')).not.toContain(CANARY_TOOL_ARG);
  });

  it('answers "stream": false with one JSON result', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const res = await run(alice, await newThread(alice), { message: 'all at once', stream: false });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      run_id: expect.stringMatching(/^run_/),
      content: 'Echo: all at once',
      tool_calls: [{ name: 'lookup_order' }],
    });
  });

  it('names a "stream": false run that failed after it started in the error answer too', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({ stream: { fail_after_events: 2, fail_mode: 'error' } });
    const res = await run(alice, threadId, { message: 'half', stream: false });
    const runId = res.headers.get('x-run-id');
    await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
    expect(runId).toMatch(/^run_\w+$/);
    expect(res.headers.get('location')).toBe(`/v1/threads/${threadId}/runs/${runId}`);
    // The run it names exists, ended with the upstream's failure.
    const view = await alice.request('GET', `/v1/threads/${threadId}/runs/${runId}`);
    expect(await view.json()).toMatchObject({
      run_id: runId,
      status: 'error',
      error: { code: 'UPSTREAM_FAILED' },
    });
  });

  it('answers a second run on a busy thread 409 RUN_IN_PROGRESS even at streams_per_user 1', async () => {
    const limits = { ...TENANTS.acme.limits, streams_per_user: 1 };
    const gw = testGateway({ tenants: { t: { ...TENANTS.acme, limits } } });
    await gw.emulator.configure({ reply: 'one two three four five six', stream: { pace_ms: 1000 } });
    const alice = await gw.caller('t');
    const [threadId, other] = [await newThread(alice), await newThread(alice)];
    const running = await run(alice, threadId, { message: 'first' });
    const runId = running.headers.get('x-run-id');
    const runsBefore = (await gw.emulator.stats()).runs;
    const unitsBefore = (await usage(alice)).budgets.runs_per_user_per_day.used;
    // Not "wait for a slot": a slot would not let it start. Its detail names the run to attach to.
    const busy = await run(alice, threadId, { message: 'second' });
    expect(busy.headers.get('ratelimit')).toBeTruthy();
    expect(busy.headers.get('retry-after')).toBeNull();
    const body = await expectError(busy, 409, 'RUN_IN_PROGRESS');
    expect(body.detail).toContain(`${runId}`);
    // Another thread is still refused for the slot, and neither spent anything.
    await expectError(await run(alice, other, { message: 'third' }), 429, 'TOO_MANY_STREAMS');
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    expect((await usage(alice)).budgets.runs_per_user_per_day.used).toBe(unitsBefore);
    await running.body?.cancel();
  });

  it('cancels the run of a thread that is deleted, its slot back by the 204', async () => {
    const gw = testGateway();
    await gw.emulator.configure({
      reply: 'one two three four five six seven eight',
      stream: { pace_ms: 300 },
    });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const reader = new SseReader(await run(alice, threadId, { message: 'long' }));
    expect((await reader.nextEvent())?.event).toBe('start');
    expect((await usage(alice)).streams.yours).toBe(1);
    const deleted = await alice.request('DELETE', `/v1/threads/${threadId}`);
    expect(deleted.status).toBe(204);
    // Nobody could read or cancel it any more: it ends now, not after its last word.
    expect((await usage(alice)).streams.yours).toBe(0);
    expect(eventsOf(await reader.rest()).at(-1)).toMatchObject({ type: 'error', code: 'RUN_CANCELLED' });
  });

  it('refreshes a token revoked before the run and replays it once', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.revokeTokens();
    const events = eventsOf(await new SseReader(await run(alice, threadId, { message: 'x' })).rest());
    expect(events.at(-1)).toEqual({ type: 'done' });
    expect((await gw.emulator.stats()).runs).toBe(1);
  });

  it('refuses a run on a thread that is not the caller’s, without calling the upstream', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const mallory = await gw.caller('acme');
    const stranger = await gw.caller('globex', alice.user);
    const threadId = await newThread(alice);
    for (const caller of [mallory, stranger]) {
      for (const stream of [true, false]) {
        const res = await run(caller, threadId, { message: 'x', stream });
        expect(res.status).toBe(404);
        expect(await res.text()).not.toContain('Echo');
      }
    }
    expect((await gw.emulator.stats()).runs).toBe(0);
  });

  it("refuses a stream over the tenant's concurrent_streams with 429 TOO_MANY_STREAMS", async () => {
    const gw = testGateway({
      tenants: { t: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, concurrent_streams: 1 } } },
    });
    await gw.emulator.configure({ reply: 'a b c d e', stream: { pace_ms: 80 } });
    const alice = await gw.caller('t');
    const [threadId, other] = [await newThread(alice), await newThread(alice)];
    const first = new SseReader(await run(alice, threadId, { message: 'x' }));
    await first.nextEvent();
    const second = await run(alice, other, { message: 'y' });
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/);
    await expectError(second, 429, 'TOO_MANY_STREAMS');
    await first.rest();
  });

  it('frees the stream slot when a stream ends', async () => {
    const gw = testGateway({
      tenants: { t: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, concurrent_streams: 1 } } },
    });
    await gw.emulator.configure({ reply: 'a b c d e', stream: { pace_ms: 80 } });
    const alice = await gw.caller('t');
    const threadId = await newThread(alice);
    await new SseReader(await run(alice, threadId, { message: 'x' })).rest();
    await expect
      .poll(async () => (await run(alice, threadId, { message: 'z', stream: false })).status)
      .toBe(200);
    expect((await gw.emulator.stats()).runs).toBe(2);
  });

  it('ends a run with one call to the tenant’s object: the slot back and the run’s counts with it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const calls = await tenantStateCalls(async (seen) => {
      const items = await new SseReader(await run(alice, threadId, { message: 'x' })).rest();
      expect(items.filter((item) => item.kind === 'event').at(-1)).toMatchObject({ event: 'done' });
      await expect.poll(() => seen.includes('releaseLease')).toBe(true);
    });
    // admit (the Worker's), the run's end (its object's), and the request's own counts.
    expect(calls.filter((call) => call === 'releaseLease')).toHaveLength(1);
    expect(calls.filter((call) => call === 'admit')).toHaveLength(1);
    expect(calls.filter((call) => call === 'meter').length).toBeLessThanOrEqual(1);
    const exported = await usage(alice);
    expect(exported.streams.active).toBe(0);
  });

  it('starts the stream and pings while a slow upstream has not even sent its headers', async () => {
    const gw = testGateway({ bindings: { STREAM_PING_MS: '50' } });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({ latency_ms: 400 });
    const slow = await run(alice, threadId, { message: 'slow' });
    expect(slow.status).toBe(200);
    const items = await new SseReader(slow).rest();
    const firstEvent = items.findIndex((item) => item.kind === 'event');
    expect(items.slice(0, firstEvent).some((i) => i.kind === 'comment' && i.text === 'ping')).toBe(true);
    expect(eventsOf(items).at(-1)).toEqual({ type: 'done' });
  });

  it('ends a started stream whose upstream never sent its headers with UPSTREAM_TIMEOUT', async () => {
    const gw = testGateway({ bindings: { STREAM_PING_MS: '50', STREAM_FIRST_BYTE_TIMEOUT_MS: '300' } });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({ latency_ms: 1_000 });
    const slow = await run(alice, threadId, { message: 'never' });
    expect(slow.status).toBe(200);
    const items = await new SseReader(slow).rest();
    expect(items.some((i) => i.kind === 'comment' && i.text === 'ping')).toBe(true);
    expect(eventsOf(items)).toEqual([
      { type: 'error', code: 'UPSTREAM_TIMEOUT', detail: 'The upstream did not answer in time.' },
    ]);
  });

  it('answers a "stream": false run whose upstream never answered with 504 UPSTREAM_TIMEOUT', async () => {
    const gw = testGateway({ bindings: { STREAM_FIRST_BYTE_TIMEOUT_MS: '300' } });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({ latency_ms: 1_000 });
    await expectError(
      await run(alice, threadId, { message: 'never', stream: false }),
      504,
      'UPSTREAM_TIMEOUT',
    );
  });

  it('makes a refusal that comes after the stream started its one error event', async () => {
    const gw = testGateway({ bindings: { STREAM_PING_MS: '50' } });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({
      latency_ms: 300,
      status_overrides: [{ method: 'POST', path: `/threads/${threadId}/run`, status: 503 }],
    });
    const refused = await run(alice, threadId, { message: 'slow' });
    expect(refused.status).toBe(200);
    const events = eventsOf(await new SseReader(refused).rest());
    expect(events).toEqual([{ type: 'error', code: 'UPSTREAM_FAILED', detail: expect.any(String) }]);
  });

  it('still answers an immediate upstream refusal with an HTTP status', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: `/threads/${threadId}/run`, status: 503 }],
    });
    await expectError(await run(alice, threadId, { message: 'x' }), 503, 'UPSTREAM_UNAVAILABLE');
  });
});
