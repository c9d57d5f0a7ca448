import { describe, expect, it } from 'vitest';
import { UpstreamThreadSchema } from '../../src/upstream/schemas';
import type { UpstreamCall } from '../../src/upstream/types';
import { sseEvents } from '../helpers/emulator';
import { rejection, upstreamUniverse } from '../helpers/upstream';

/** A universe with warm tokens and one thread to run. */
async function setup() {
  const universe = upstreamUniverse('req-upstream-stream');
  const { emulator } = universe;
  const client = (timeoutMs?: number) => universe.client(timeoutMs === undefined ? {} : { timeoutMs });
  const thread = await client().json(
    {
      method: 'POST',
      path: ['threads'],
      trailingSlash: true,
      json: { assistant_id: 'asst_support' },
      scope: 'project:proj_acme',
    },
    UpstreamThreadSchema,
  );
  const run = (signal?: AbortSignal): UpstreamCall => ({
    method: 'POST',
    path: ['threads', thread.thread_id, 'run'],
    json: { message: 'hello stream', stream: true },
    scope: 'project:proj_acme',
    signal,
  });
  return { emulator, client, run };
}

describe('UpstreamClient.stream', () => {
  it('returns the event stream; the timeout covers the headers, not the body', async () => {
    const { emulator, client, run } = await setup();
    await emulator.configure({ stream: { stall_before_first_byte_ms: 1_200 } });
    const res = await client(400).stream(run());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = sseEvents(await res.text());
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['start', 'content', 'done']));
    expect((await emulator.stats()).streams_completed).toBe(1);
  });

  it('times out with 504 when the headers do not arrive in time, without retrying', async () => {
    const { emulator, client, run } = await setup();
    await emulator.configure({ latency_ms: 3_000 });
    const upstream = client(300);
    const err = await rejection(upstream.stream(run()));
    expect([err.status, err.code]).toEqual([504, 'UPSTREAM_TIMEOUT']);
    expect(upstream.upstreamCalls).toBe(1);
  });

  it('replays once on a 401 before returning anything', async () => {
    const { emulator, client, run } = await setup();
    await emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/*', status: 401, times: 1 }],
    });
    const upstream = client();
    const res = await upstream.stream(run());
    expect(sseEvents(await res.text()).at(-1)?.type).toBe('done');
    expect(upstream.upstreamCalls).toBe(2);
    expect((await emulator.stats()).runs).toBe(1);
  });

  it('never retries a failed stream', async () => {
    const { emulator, client, run } = await setup();
    await emulator.configure({ status_overrides: [{ method: 'POST', path: '/threads/*', status: 503 }] });
    const upstream = client();
    const err = await rejection(upstream.stream(run()));
    expect([err.status, err.code]).toEqual([503, 'UPSTREAM_UNAVAILABLE']);
    expect(upstream.upstreamCalls).toBe(1);
  });

  it("lets the caller's signal cancel the body after the headers arrived", async () => {
    const { emulator, client, run } = await setup();
    await emulator.configure({ stream: { pace_ms: 300 } });
    const controller = new AbortController();
    const res = await client(200).stream(run(controller.signal));
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    const first = await reader.read();
    expect(first.done).toBe(false);
    // Past the header timeout the body still flows...
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await reader.read()).done).toBe(false);
    // ...until the caller goes away.
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    const stats = await emulator.waitForStats((s) => s.streams_cancelled === 1);
    expect(stats.streams_completed).toBe(0);
  });
});
