import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { UPSTREAM_URL } from '../fixtures/tenants';
import { EmulatorControl } from '../helpers/emulator';
import { newThread, unique } from '../helpers/fixtures';
import { baseCaller } from '../helpers/gateway';
import { consume as consumeOne, type Decision, recordedDelivery, waitForDelivery } from '../helpers/webhooks';

/**
 * The queue handler called directly (cloudflare:test message batches), to read what it
 * decides per message: ack, or retry with which delay. The bindings say
 * `WEBHOOK_RETRY_BASE_SECONDS=10` here, the production value (the other tests run with 0).
 */
const TENANT = 'acme';
const upstream = new EmulatorControl(UPSTREAM_URL);
const sink = new EmulatorControl('https://hooks.acme.example');

/** The handler on one message, with the production backoff base. */
const consume = (queue: string, body: unknown, attempts: number) =>
  consumeOne(queue, body, attempts, { ...env, WEBHOOK_RETRY_BASE_SECONDS: '10' });

const retried = (delaySeconds: number): Decision => ({ acked: false, retried: true, delaySeconds });
const acked: Decision = { acked: true, retried: false, delaySeconds: undefined };

/** A run delivery on a thread of a fresh subject, recorded but not yet consumed. */
async function recordedRun() {
  const subject = `s-${unique()}`;
  const threadId = await newThread(await baseCaller('acme', subject));
  const { deliveryId, job } = await recordedDelivery(TENANT, {
    message: 'retry me',
    thread_id: threadId,
    subject,
  });
  /** Makes the next upstream run of the thread fail with `status` (and `headers`). */
  const failNextRun = (status: number, headers?: Record<string, string>) =>
    upstream.configure({
      status_overrides: [{ method: 'POST', path: `/threads/${threadId}/run`, status, times: 1, headers }],
    });
  return { deliveryId, job, failNextRun };
}

afterEach(async () => {
  await upstream.configure({ status_overrides: [] });
});

describe('queue handler decisions', () => {
  it('retries a failed run with exponential backoff by attempt', async () => {
    const { job, failNextRun } = await recordedRun();
    await failNextRun(500);
    expect(await consume('epsimo-edge-runs', job, 1)).toEqual(retried(10));
    await failNextRun(500);
    expect(await consume('epsimo-edge-runs', job, 3)).toEqual(retried(40));
  });

  it('retries a failed run after the Retry-After it got', async () => {
    const { job, failNextRun } = await recordedRun();
    await failNextRun(503, { 'Retry-After': '90' });
    expect(await consume('epsimo-edge-runs', job, 1)).toEqual(retried(90));
  });

  it('acks a run once it works, and records the attempt it succeeded on', async () => {
    const { deliveryId, job, failNextRun } = await recordedRun();
    for (const attempt of [1, 2, 3]) {
      await failNextRun(500);
      expect((await consume('epsimo-edge-runs', job, attempt)).retried).toBe(true);
    }
    // Every consumption counts: three failures, then it works on the fourth.
    expect(await consume('epsimo-edge-runs', job, 4)).toEqual(acked);
    expect(await waitForDelivery(TENANT, deliveryId)).toMatchObject({ status: 'succeeded', attempts: 4 });
  });

  it('acks a late duplicate of a delivered run and runs nothing', async () => {
    const { deliveryId, job } = await recordedRun();
    expect(await consume('epsimo-edge-runs', job, 1)).toEqual(acked);
    await waitForDelivery(TENANT, deliveryId);
    const before = (await upstream.stats()).runs;
    expect(await consume('epsimo-edge-runs', job, 1)).toEqual(acked);
    expect((await upstream.stats()).runs).toBe(before);
  });

  it('acks a message it cannot read', async () => {
    expect(await consume('epsimo-edge-runs', { hello: 'world' }, 1)).toEqual(acked);
  });

  it('acks a delivery that no longer exists', async () => {
    const gone = { kind: 'run', tenant: TENANT, delivery_id: 'dlv_expired' };
    expect(await consume('epsimo-edge-runs', gone, 1)).toEqual(acked);
  });

  it('retries a redirect from the callback endpoint like a failure and never follows it', async () => {
    const path = `/__callbacks/${unique()}`;
    await sink.setCallbackStatuses(
      path,
      Array.from({ length: 12 }, () => 302),
    );
    const { deliveryId, job: runJob } = await recordedDelivery(TENANT, {
      message: 'x',
      thread_id: 'thread_nobody',
      subject: 's',
      callback_url: `https://hooks.acme.example${path}`,
    });
    // The run fails at once (not the subject's thread) and its callback job is queued for
    // real; one more attempt by hand shows the decision: a 3xx is retried like a 5xx.
    expect(await consume('epsimo-edge-runs', runJob, 1)).toEqual(acked);
    const callbackJob = { kind: 'callback', tenant: TENANT, delivery_id: deliveryId };
    const decision = await consume('epsimo-edge-callbacks', callbackJob, 2);
    expect(decision).toEqual(retried(20));
    const received = await sink.callbacks(path);
    expect(received.length).toBeGreaterThanOrEqual(1);
    expect(received.every((r) => r.status === 302)).toBe(true);
  });
});
