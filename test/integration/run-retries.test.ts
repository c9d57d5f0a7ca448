import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CLAIM_TTL_MS } from '../../src/runs/claims';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { newThread, spending, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { SseReader } from '../helpers/sse';

/**
 * A retry of a run (the same `Idempotency-Key`, or a re-posted `Last-Event-ID`) attaches
 * to the run it names without a stream slot or a run unit of its own: the run already
 * holds its slot and paid its unit. A client that retries at its limits is not refused
 * what it paid for, and a retry never starts a second upstream run.
 */
const RunResult = z.object({ run_id: z.string(), content: z.string() });

const gatewayWith = (limits: Record<string, number>) =>
  testGateway({ tenants: { t: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, ...limits } } } });

const post = (
  caller: Caller,
  thread: string,
  message: string,
  headers: Record<string, string>,
  stream = true,
) => caller.request('POST', `/v1/threads/${thread}/run`, { json: { message, stream }, headers });

describe('a retried run request', () => {
  it('attaches by its Idempotency-Key at streams_per_user 1, holding no second slot', async () => {
    const gw = gatewayWith({ streams_per_user: 1 });
    await gw.emulator.configure({ reply: 'one two three four five six', stream: { pace_ms: 100 } });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = await post(alice, thread, 'hello', { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(200);
    const reader = new SseReader(first);
    expect((await reader.nextEvent())?.event).toBe('start');
    const runsBefore = (await gw.emulator.stats()).runs;

    const retry = await post(alice, thread, 'hello', { 'idempotency-key': 'k-1' });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-run-id')).toBe(first.headers.get('x-run-id'));
    // The retry sees the run from its first event, as the key's first request did.
    const again = new SseReader(retry);
    expect((await again.nextEvent())?.id).toBe(`${first.headers.get('x-run-id')}:1`);
    expect((await usage(alice)).streams).toMatchObject({ yours: 1 });
    const [rest, retried] = await Promise.all([reader.rest(), again.rest()]);
    expect(retried.filter((item) => item.kind === 'event').at(-1)).toMatchObject({ event: 'done' });
    expect(rest.filter((item) => item.kind === 'event').at(-1)).toMatchObject({ event: 'done' });
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
  });

  it('attaches by a re-posted Last-Event-ID at streams_per_user 1, after that event', async () => {
    const gw = gatewayWith({ streams_per_user: 1 });
    await gw.emulator.configure({ reply: 'one two three four five six', stream: { pace_ms: 100 } });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = await post(alice, thread, 'hello', {});
    const reader = new SseReader(first);
    const start = await reader.nextEvent();
    const runsBefore = (await gw.emulator.stats()).runs;

    const retry = await post(alice, thread, 'hello', { 'last-event-id': start?.id ?? '' });
    expect(retry.status).toBe(200);
    const again = new SseReader(retry);
    expect((await again.nextEvent())?.id).toBe(`${first.headers.get('x-run-id')}:2`);
    expect((await usage(alice)).streams).toMatchObject({ yours: 1 });
    await Promise.all([reader.cancel(), again.cancel()]);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
  });

  it('answers a "stream": false re-post of a Last-Event-ID with the whole run, named', async () => {
    const gw = gatewayWith({});
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = await post(alice, thread, 'hello', {});
    const runId = first.headers.get('x-run-id');
    expect((await new SseReader(first).rest()).filter((item) => item.kind === 'event').at(-1)).toMatchObject({
      event: 'done',
    });
    // Past its start event and its first delta: the result is still the run's, all of it.
    const retry = await post(alice, thread, 'hello', { 'last-event-id': `${runId}:2` }, false);
    expect(await parseJson(retry, RunResult)).toEqual({ run_id: runId, content: 'Echo: hello' });
    expect(retry.headers.get('x-run-id')).toBe(runId);
    expect(retry.headers.get('location')).toBe(`/v1/threads/${thread}/runs/${runId}`);
  });

  it('reads the finished run’s result after the day’s last run unit, spending none', async () => {
    const gw = gatewayWith({ runs_per_user_per_day: 1 });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = await parseJson(
      await post(alice, thread, 'hello', { 'idempotency-key': 'k-2' }, false),
      RunResult,
    );
    const before = await usage(alice);
    expect(before.budgets.runs_per_user_per_day.remaining).toBe(0);
    const runsBefore = (await gw.emulator.stats()).runs;

    const retry = await post(alice, thread, 'hello', { 'idempotency-key': 'k-2' }, false);
    expect(await parseJson(retry, RunResult)).toEqual(first);
    expect((await usage(alice)).budgets.runs_per_user_per_day.used).toBe(
      before.budgets.runs_per_user_per_day.used,
    );
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    // A new run (another key) is still refused: the retry opened no way past the budget.
    await expectError(
      await post(alice, thread, 'hello', { 'idempotency-key': 'k-3' }, false),
      429,
      'BUDGET_EXCEEDED',
    );
  });

  it('answers the key sent with another message 409, taking no slot and no unit', async () => {
    const gw = gatewayWith({ runs_per_user_per_day: 1, streams_per_user: 1 });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    expect((await post(alice, thread, 'hello', { 'idempotency-key': 'k-4' }, false)).status).toBe(200);
    const before = await spending(alice);
    const runsBefore = (await gw.emulator.stats()).runs;
    await expectError(
      await post(alice, thread, 'bye', { 'idempotency-key': 'k-4' }),
      409,
      'IDEMPOTENCY_CONFLICT',
    );
    expect(await spending(alice)).toEqual(before);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
  });

  it('is still admitted: it takes the caller’s rate, and names only the caller’s runs', async () => {
    const gw = gatewayWith({ burst: 4, requests_per_minute: 1 });
    const [alice, bob] = [await gw.caller('t'), await gw.caller('t')];
    const thread = await newThread(alice);
    const first = await post(alice, thread, 'hello', { 'idempotency-key': 'k-5' }, false);
    const { run_id } = await parseJson(first, RunResult);
    const runsBefore = (await gw.emulator.stats()).runs;
    // Keys and resume points are the caller's: bob names alice's run on alice's thread, and is not attached.
    await expectError(
      await post(bob, thread, 'hello', { 'idempotency-key': 'k-5' }, false),
      404,
      'NOT_FOUND',
    );
    await expectError(
      await post(bob, thread, 'hello', { 'last-event-id': `${run_id}:1` }, false),
      404,
      'NOT_FOUND',
    );
    // Alice's retries spend her bucket like any request: two fit in the burst of 4, the third does not.
    for (let i = 0; i < 2; i++) {
      expect((await post(alice, thread, 'hello', { 'idempotency-key': 'k-5' }, false)).status).toBe(200);
    }
    await expectError(
      await post(alice, thread, 'hello', { 'idempotency-key': 'k-5' }, false),
      429,
      'RATE_LIMITED',
    );
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
  });
});

describe('the same Idempotency-Key sent twice at once', () => {
  it('starts one run; the duplicate waits for it and attaches, even at streams_per_user 1', async () => {
    const gw = gatewayWith({ streams_per_user: 1, runs_per_user_per_day: 1 });
    await gw.emulator.configure({ reply: 'one two three', stream: { pace_ms: 50 } });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const runsBefore = (await gw.emulator.stats()).runs;
    const [a, b] = await Promise.all([
      post(alice, thread, 'hello', { 'idempotency-key': 'twice' }, false),
      post(alice, thread, 'hello', { 'idempotency-key': 'twice' }, false),
    ]);
    const [ra, rb] = [await parseJson(a, RunResult), await parseJson(b, RunResult)];
    expect(rb).toEqual(ra);
    expect(ra.content).toBe('one two three');
    expect((await gw.emulator.stats()).runs).toBe(runsBefore + 1);
    expect((await usage(alice)).budgets.runs_per_user_per_day.used).toBe(1);
  });

  // A claim left behind would hold the twin for CLAIM_TTL_MS: the test's own timeout is shorter.
  it('is refused for both when the first is refused, and neither waits on the other', {
    timeout: CLAIM_TTL_MS / 2,
  }, async () => {
    const gw = gatewayWith({ streams_per_user: 1 });
    // Slow enough that the run holding the slot outlasts the test.
    await gw.emulator.configure({ reply: 'one two three four five six', stream: { pace_ms: 1000 } });
    const alice = await gw.caller('t');
    const [busy, thread] = [await newThread(alice), await newThread(alice)];
    // Alice's one stream slot is taken by a run on another thread.
    const holding = await post(alice, busy, 'hold', {});
    expect(holding.status).toBe(200);
    expect((await usage(alice)).streams).toMatchObject({ yours: 1 });
    const runsBefore = (await gw.emulator.stats()).runs;
    const [a, b] = await Promise.all([
      post(alice, thread, 'hello', { 'idempotency-key': 'refused' }, false),
      post(alice, thread, 'hello', { 'idempotency-key': 'refused' }, false),
    ]);
    await expectError(a, 429, 'TOO_MANY_STREAMS');
    await expectError(b, 429, 'TOO_MANY_STREAMS');
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    await holding.body?.cancel();
  });
  // The first's claim lasts until the upstream answered its start, however long that takes.
  for (const latency of [0, 300]) {
    it(`runs the duplicate itself when the upstream refused the first (${latency} ms to answer)`, async () => {
      const gw = gatewayWith({});
      const alice = await gw.caller('t');
      const thread = await newThread(alice);
      await gw.emulator.configure({
        latency_ms: latency,
        status_overrides: [{ method: 'POST', path: '/threads/*/run', status: 503, times: 1 }],
      });
      const runsBefore = (await gw.emulator.stats()).runs;
      const answers = await Promise.all([
        post(alice, thread, 'hello', { 'idempotency-key': 'refused-once' }, false),
        post(alice, thread, 'hello', { 'idempotency-key': 'refused-once' }, false),
      ]);
      expect(answers.map((res) => res.status).sort()).toEqual([200, 503]);
      const [refused, served] = answers[0]?.status === 503 ? answers : [...answers].reverse();
      if (!refused || !served) throw new Error('two answers expected');
      await expectError(refused, 503, 'UPSTREAM_UNAVAILABLE');
      // Not the refused run, empty, nor a 404 for it: a run of its own, named in its headers.
      const result = await parseJson(served, RunResult);
      expect(result.content).toBe('Echo: hello');
      expect(result.run_id).toMatch(/^run_\w+$/);
      expect(served.headers.get('x-run-id')).toBe(result.run_id);
      expect((await gw.emulator.stats()).runs).toBe(runsBefore + 1);
      expect((await usage(alice)).budgets.runs_per_user_per_day.used).toBe(1);
    });
  }

  it('streams the duplicate a run of its own when the upstream refused the first', async () => {
    const gw = gatewayWith({});
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    await gw.emulator.configure({
      latency_ms: 300,
      status_overrides: [{ method: 'POST', path: '/threads/*/run', status: 503, times: 1 }],
    });
    const answers = await Promise.all([
      post(alice, thread, 'hello', { 'idempotency-key': 'refused-stream' }),
      post(alice, thread, 'hello', { 'idempotency-key': 'refused-stream' }),
    ]);
    expect(answers.map((res) => res.status).sort()).toEqual([200, 503]);
    const [refused, served] = answers[0]?.status === 503 ? answers : [...answers].reverse();
    if (!refused || !served) throw new Error('two answers expected');
    await expectError(refused, 503, 'UPSTREAM_UNAVAILABLE');
    const text = await served.text();
    // Its own run to the end, not the refused run's pings and a close without a final event.
    expect(text).toMatch(/event: start\n/);
    expect(text).toMatch(/event: done\n/);
  });
});

describe('a resume point at or past the end of a run', () => {
  const events = (caller: Caller, thread: string, runId: string, query: string, headers = {}) =>
    caller.request('GET', `/v1/threads/${thread}/runs/${runId}/events${query}`, { headers });

  it('is 204 once the run ended, so an EventSource reconnecting after done stops', async () => {
    const gw = gatewayWith({});
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = await post(alice, thread, 'hello', {});
    const runId = first.headers.get('x-run-id') ?? '';
    const items = (await new SseReader(first).rest()).filter((item) => item.kind === 'event');
    const last = items.at(-1);
    expect(last).toMatchObject({ event: 'done', id: `${runId}:${items.length}` });
    const n = items.length;
    for (const res of [
      await events(alice, thread, runId, `?after=${n}`),
      await events(alice, thread, runId, `?after=${n + 5}`),
      await events(alice, thread, runId, '', { 'last-event-id': `${runId}:${n}` }),
      await post(alice, thread, 'hello', { 'last-event-id': `${runId}:${n}` }),
    ]) {
      expect(res.status).toBe(204);
      expect(await res.text()).toBe('');
    }
    // One before the end is the final event, once.
    const tail = (await new SseReader(await events(alice, thread, runId, `?after=${n - 1}`)).rest()).filter(
      (item) => item.kind === 'event',
    );
    expect(tail).toEqual([expect.objectContaining({ event: 'done', id: `${runId}:${n}` })]);
  });

  it('on a running run sends only the events after it, as they come', async () => {
    const gw = gatewayWith({});
    await gw.emulator.configure({
      reply: 'one two three four five six seven eight',
      stream: { pace_ms: 60 },
    });
    const alice = await gw.caller('t');
    const thread = await newThread(alice);
    const first = new SseReader(await post(alice, thread, 'hello', {}));
    const start = await first.nextEvent();
    const runId = start?.id?.split(':')[0] ?? '';
    // Ahead of what the run has relayed so far: nothing at or before event 6 is sent.
    const ahead = await events(alice, thread, runId, '?after=6');
    expect(ahead.status).toBe(200);
    const ids = (await new SseReader(ahead).rest())
      .filter((item) => item.kind === 'event')
      .map((item) => Number(item.id?.split(':')[1]));
    expect(ids.length).toBeGreaterThan(0);
    expect(Math.min(...ids)).toBe(7);
    await first.rest();
  });
});
