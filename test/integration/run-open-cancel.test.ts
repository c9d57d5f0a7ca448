import { describe, expect, it } from 'vitest';
import { newThread, usage } from '../helpers/fixtures';
import { type Caller, type GatewayOptions, testGateway } from '../helpers/gateway';
import { eventsOf, SseReader } from '../helpers/sse';

/**
 * A run cancelled while its upstream request is still being opened: the upstream took the
 * run and holds its response headers back (emulator knob `delay_headers_ms`), so the run's
 * object is still waiting for them (within its header grace, before it answers its start)
 * when the cancel lands. The run must end `cancelled` like any other: its starting caller
 * hears `RUN_CANCELLED` on a stream of its own, its slot is back, the upstream request is
 * aborted and the run stays on record.
 */
describe('a run cancelled before its upstream answered with headers', () => {
  /**
   * A run whose upstream has received its request and not answered it yet; `bindings` of
   * the gateway (a short ping makes a short header grace).
   */
  async function opening(bindings: GatewayOptions['bindings'] = {}) {
    const gw = testGateway({ bindings });
    // Far longer than the test: the upstream answers only if nobody aborts it.
    await gw.emulator.configure({ stream: { delay_headers_ms: 60_000 } });
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    let answered = false;
    const started = alice.edge.v1.threads[':thread_id'].run
      .$post({ param: { thread_id: threadId }, json: { message: 'slow to answer' } })
      .then((res) => {
        answered = true;
        return res;
      });
    await gw.emulator.waitForStats((s) => s.runs === 1);
    // The run is recorded before its upstream request goes out: listed while it opens.
    const runs = await alice.edge.v1.threads[':thread_id'].runs.$get({ param: { thread_id: threadId } });
    expect(runs.status).toBe(200);
    const [listed] = (await runs.json()).runs;
    expect(listed).toMatchObject({ status: 'running' });
    const runId = listed?.run_id ?? '';
    return { gw, alice, threadId, runId, started, answered: () => answered };
  }

  /** What every such cancel leaves: the run cancelled and on record, the upstream aborted, no slot held. */
  async function expectCancelled(
    { gw, alice, runId, started }: Awaited<ReturnType<typeof opening>>,
    streamsFreed: (caller: Caller) => Promise<void>,
  ) {
    const res = await started;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('x-run-id')).toBe(runId);
    expect(eventsOf(await new SseReader(res).rest())).toEqual([
      { type: 'error', code: 'RUN_CANCELLED', detail: expect.any(String) },
    ]);
    await streamsFreed(alice);
    const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
    expect(stats).toMatchObject({ runs: 1, streams_opened: 1, streams_completed: 0 });
  }

  /** `POST .../cancel` of the run; then what it left. */
  async function cancelled(open: Awaited<ReturnType<typeof opening>>) {
    const { alice, threadId, runId } = open;
    const cancel = await alice.request('POST', `/v1/threads/${threadId}/runs/${runId}/cancel`);
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toMatchObject({ run_id: runId, status: 'cancelled' });
    await expectCancelled(open, async (caller) => {
      await expect.poll(async () => (await usage(caller)).streams.active).toBe(0);
    });
    const got = await alice.request('GET', `/v1/threads/${threadId}/runs/${runId}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({
      run_id: runId,
      status: 'cancelled',
      error: { code: 'RUN_CANCELLED' },
    });
  }

  it('by POST .../cancel: ends cancelled, the caller hears RUN_CANCELLED, its slot is back', async () => {
    const open = await opening();
    // Still inside the object's wait for the upstream's headers: its start is not answered.
    expect(open.answered(), 'the run started before the cancel could land in its opening').toBe(false);
    await cancelled(open);
  });

  it('by POST .../cancel past the header grace (the caller has its stream, pings): the same', async () => {
    // A 50 ms ping makes a 50 ms header grace: the run starts on the promise of its body.
    const open = await opening({ STREAM_PING_MS: '50' });
    await expect.poll(open.answered).toBe(true);
    await cancelled(open);
  });

  it('by deleting its thread: its slot is back by the 204, the caller hears RUN_CANCELLED', async () => {
    const open = await opening();
    expect(open.answered(), 'the run started before the delete could land in its opening').toBe(false);
    const deleted = await open.alice.request('DELETE', `/v1/threads/${open.threadId}`);
    expect(deleted.status).toBe(204);
    await expectCancelled(open, async (caller) => {
      expect((await usage(caller)).streams.active).toBe(0);
    });
  });
});
