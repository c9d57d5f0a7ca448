import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors';
import { UpstreamClient } from '../../src/upstream/client';
import { ThreadSchema } from '../../src/upstream/schemas';
import { createTokenSource } from '../../src/upstream/tokens';
import type { AccountConfig, UpstreamCall } from '../../src/upstream/types';
import { CANARY_EMAIL, CANARY_PASSWORD } from '../emulator/canaries';
import { freshEmulator, sseEvents } from '../helpers/emulator';

/** A universe with warm tokens and one thread to run. */
async function setup() {
  const emulator = freshEmulator();
  const account: AccountConfig = {
    baseUrl: emulator.baseUrl,
    email: CANARY_EMAIL,
    password: CANARY_PASSWORD,
  };
  const tokens = createTokenSource({ namespace: env.TOKEN_BROKER, account });
  const client = (timeoutMs?: number) =>
    new UpstreamClient({ account, tokens, requestId: 'req-upstream-stream', timeoutMs });
  const thread = await client().json(
    {
      method: 'POST',
      path: ['threads'],
      trailingSlash: true,
      json: { assistant_id: 'asst_support' },
      scope: 'project:proj_acme',
    },
    ThreadSchema,
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

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err;
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
