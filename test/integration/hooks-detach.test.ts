import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import type { ThreadRuns } from '../../src/objects/thread-runs';
import type { StartRun } from '../../src/runs/schema';
import { runShard } from '../../src/services/run';
import { runOutcomesOf } from '../helpers/admin';
import { expectError } from '../helpers/assertions';
import { assemble, chatFrontend, chatId, textOf, threadsOf, userMessage } from '../helpers/chat';
import { newThread, unique, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { SseReader } from '../helpers/sse';
import { consume, recordedDelivery, waitForDelivery } from '../helpers/webhooks';
import { testEnv } from '../helpers/worker';

/**
 * Contract §4: a run whose callers have all left is cancelled after `RUN_DETACH_GRACE_MS`;
 * "webhook runs never detach-cancel". The queue consumer reads its run to the end, so a
 * webhook run is left with nobody attached when the consumer's connection to it is lost
 * (the invocation died): the run must go on to its end, and the redelivered message read
 * the whole result from it. The session run beside it, left the same way, is cancelled.
 * Grace 100 ms; every run takes about 1.2 s (12 words, 100 ms apart).
 */
const GRACE = { RUN_DETACH_GRACE_MS: '100' };
const REPLY = 'one two three four five six seven eight nine ten eleven twelve';

async function setup() {
  const gw = testGateway({ bindings: GRACE });
  await gw.emulator.configure({ reply: REPLY, stream: { pace_ms: 100 } });
  const tenant = gw.ids.acme ?? '';
  const subject = `crm-${unique()}`;
  const owner = await gw.caller('acme', subject);
  return { gw, tenant, subject, owner };
}

/**
 * The runs namespace of `runs`, but every run started through it is read by a caller whose
 * connection breaks after the first chunk: the run's object sees its caller leave, and the
 * caller's read fails (the queue consumer's attempt ends, to be retried).
 */
function losingConnections(runs: DurableObjectNamespace<ThreadRuns>): DurableObjectNamespace<ThreadRuns> {
  return new Proxy(runs, {
    get(target, prop) {
      if (prop === 'getByName') return (name: string) => losingStub(target.getByName(name));
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function losingStub(stub: DurableObjectStub<ThreadRuns>): DurableObjectStub<ThreadRuns> {
  return new Proxy(stub, {
    get(target, prop) {
      if (prop !== 'start') return Reflect.get(target, prop);
      return async (input: StartRun) => {
        const outcome = await target.start(input);
        return 'stream' in outcome ? { ...outcome, stream: lostAfterFirstChunk(outcome.stream) } : outcome;
      };
    },
  });
}

function lostAfterFirstChunk(frames: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = frames.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await reader.read();
      await reader.cancel();
      controller.error(new Error('connection to the run lost (test)'));
    },
  });
}

/**
 * How many callers the live run of `threadId` has in its runs object (`undefined`: no run
 * of it is live). The object's live runs are its own: read here only to see that the run
 * was left by its consumer (no answer says so) before the test goes on.
 */
async function callersOf(tenant: string, threadId: string): Promise<number | undefined> {
  const stub = env.THREAD_RUNS.getByName(`${tenant}:runs:${runShard(threadId)}`);
  return runInDurableObject(stub, (instance) => {
    const live: unknown = Reflect.get(instance, 'live');
    if (!(live instanceof Map)) throw new Error('ThreadRuns keeps no live map any more');
    for (const run of live.values()) if (run.row.thread_id === threadId) return run.connections.size;
    return undefined;
  });
}

/** The first attempt at `job` starts its run and loses it after the first event: retried. */
async function loseFirstAttempt(tenant: string, threadId: string, job: unknown, queueEnv: Env) {
  const losing = { ...queueEnv, THREAD_RUNS: losingConnections(queueEnv.THREAD_RUNS) };
  expect(await consume('epsimo-edge-runs', job, 1, losing)).toMatchObject({ retried: true });
  // The run goes on, and its object has seen its only caller leave.
  await expect.poll(() => callersOf(tenant, threadId)).toBe(0);
}

/** The one run of `threadId`, once it is no longer running. */
async function endedRun(owner: Caller, threadId: string) {
  let status = 'running';
  let runId = '';
  await expect
    .poll(
      async () => {
        const res = await owner.edge.v1.threads[':thread_id'].runs.$get({ param: { thread_id: threadId } });
        const [run] = (await res.json()).runs;
        status = run?.status ?? 'none';
        runId = run?.run_id ?? '';
        return status;
      },
      { timeout: 10_000 },
    )
    .not.toBe('running');
  return { status, runId };
}

it('a session run left by its only caller is cancelled after the grace', async () => {
  const { gw, tenant, subject, owner } = await setup();
  const threadId = await newThread(owner);
  const res = await owner.edge.v1.threads[':thread_id'].run.$post({
    param: { thread_id: threadId },
    json: { message: 'x' },
  });
  const reader = new SseReader(res);
  expect((await reader.nextEvent())?.event).toBe('start');
  await reader.cancel();

  expect((await endedRun(owner, threadId)).status).toBe('cancelled');
  const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
  expect(stats.streams_completed).toBe(0);
  await expect.poll(() => runOutcomesOf(gw.overrides, tenant, subject)).toMatchObject({ runs_cancelled: 1 });
});

it('a webhook run whose consumer was lost goes on past the grace; the redelivery reads its whole result', async () => {
  const { gw, tenant, subject, owner } = await setup();
  const threadId = await newThread(owner);
  const { deliveryId, job } = await recordedDelivery(
    tenant,
    { message: 'x', thread_id: threadId, subject },
    gw.overrides,
  );
  const queueEnv = testEnv(gw.overrides);
  await loseFirstAttempt(tenant, threadId, job, queueEnv);

  // Nobody attached for ten times the grace: the run still ends with its done.
  const run = await endedRun(owner, threadId);
  expect(run.status).toBe('done');
  const stats = await gw.emulator.stats();
  expect(stats).toMatchObject({ runs: 1, streams_completed: 1, streams_cancelled: 0 });

  // The redelivery attaches to that run (no second upstream run) and has its whole answer.
  expect(await consume('epsimo-edge-runs', job, 2, queueEnv)).toMatchObject({ acked: true });
  const delivery = await waitForDelivery(tenant, deliveryId, undefined, undefined, { fetch: gw.fetch });
  expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
  expect(delivery.result).toMatchObject({ run_id: run.runId, content: REPLY });
  expect((await gw.emulator.stats()).runs).toBe(1);
  await expect
    .poll(() => runOutcomesOf(gw.overrides, tenant, subject))
    .toEqual({ runs_started: 1, runs_completed: 1, runs_cancelled: 0 });
});

it("a webhook run nobody reads is not ended by the subject's next chat message, which is told the thread is busy", async () => {
  const { gw, tenant, subject, owner } = await setup();
  await gw.emulator.configure({ reply: 'hi', stream: { pace_ms: 0 } });
  const sdk = chatFrontend(gw.fetch, owner);
  const chat = chatId();
  expect(textOf(await assemble(await sdk.send(chat, [userMessage('first')])))).toBe('hi');
  const [threadId = ''] = await threadsOf(owner);

  await gw.emulator.configure({ reply: REPLY, stream: { pace_ms: 100 } });
  const { job } = await recordedDelivery(
    tenant,
    { message: 'x', thread_id: threadId, subject },
    gw.overrides,
  );
  await loseFirstAttempt(tenant, threadId, job, testEnv(gw.overrides));

  // A chat's next message ends a run of its thread that nobody reads (a stopped frontend's),
  // but not a webhook run: that one is the subject's automation's, read by its redelivery.
  const next = await owner.request('POST', '/v1/chat', {
    json: { id: chat, messages: [userMessage('first'), userMessage('second')], trigger: 'submit-message' },
  });
  await expectError(next, 409, 'RUN_IN_PROGRESS');
  expect((await endedRun(owner, threadId)).status).toBe('done');
  expect((await gw.emulator.stats()).streams_cancelled).toBe(0);
});

it('a webhook run whose result outgrew the cap ends with its failed delivery, not left running', async () => {
  const { gw, tenant, subject, owner } = await setup();
  // Each event is under the 1 MiB event cap; five of them pass the 4 MiB result cap, and
  // the run would go on for seconds after that.
  const big = `data: {"type":"content","delta":"${'z'.repeat(900_000)}"}\n\n`;
  const more = 'data: {"type":"content","delta":" more"}\n\n';
  const raw = [
    'data: {"type":"start","run_id":"r"}\n\n',
    ...Array<string>(6).fill(big),
    ...Array<string>(40).fill(more),
  ];
  await gw.emulator.configure({ stream: { pace_ms: 100, raw: [...raw, 'data: {"type":"done"}\n\n'] } });
  const threadId = await newThread(owner);
  const { deliveryId, job } = await recordedDelivery(
    tenant,
    { message: 'x', thread_id: threadId, subject },
    gw.overrides,
  );
  expect(await consume('epsimo-edge-runs', job, 1, testEnv(gw.overrides))).toMatchObject({ acked: true });
  const delivery = await waitForDelivery(tenant, deliveryId, undefined, undefined, { fetch: gw.fetch });
  expect(delivery).toMatchObject({ status: 'failed', error: { code: 'RESULT_TOO_LARGE' } });

  // No retry will read it: it ended when the delivery gave up, its slot is back, the upstream stopped.
  expect((await endedRun(owner, threadId)).status).toBe('cancelled');
  expect((await usage(owner)).streams.active).toBe(0);
  const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
  expect(stats.streams_completed).toBe(0);
});
