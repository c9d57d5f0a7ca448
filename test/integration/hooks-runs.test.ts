import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SIGNED_PREFIX, signWebhook } from '../../src/webhooks/signature';
import { TENANTS, UPSTREAM_URL } from '../fixtures/tenants';
import { expectError, expectNoSecrets } from '../helpers/assertions';
import { EmulatorControl } from '../helpers/emulator';
import { newThread, unique } from '../helpers/fixtures';
import { baseCaller, sessionToken, testGateway } from '../helpers/gateway';
import { parseText } from '../helpers/json';
import {
  DeliveryAcceptedSchema,
  type DeliveryBody,
  HOOK_SECRET,
  lookupDelivery,
  messageId,
  sendHook,
  waitForDelivery,
  workerWithQueueSpy,
} from '../helpers/webhooks';
import { callWorker } from '../helpers/worker';

/**
 * Webhook runs end to end through miniflare's real queues and Durable Objects. The queue
 * consumer runs with the base test bindings, so these tests use tenant `acme` and the
 * default upstream universe, each with subjects of its own.
 */
const TENANT = 'acme';
const upstream = new EmulatorControl(UPSTREAM_URL);
const SECRETS = [HOOK_SECRET, TENANTS.acme.session_secret];

/** Upstream run requests on `threadId` (from the emulator's request log). */
async function runCalls(threadId: string): Promise<number> {
  const log = (await upstream.stats()).request_log;
  return log.filter((r) => r.method === 'POST' && r.path === `/threads/${threadId}/run`).length;
}

async function accepted(res: Response): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(202);
  expectNoSecrets(text, SECRETS);
  const { delivery_id } = parseText(text, DeliveryAcceptedSchema);
  expect(delivery_id).toMatch(/^dlv_[a-f0-9]{32}$/);
  expect(res.headers.get('location')).toBe(`/v1/hooks/${TENANT}/deliveries/${delivery_id}`);
  return delivery_id;
}

/** A thread owned by `subject`, created through the session API. */
const threadOf = async (subject: string) => newThread(await baseCaller('acme', subject));

afterEach(async () => {
  vi.restoreAllMocks();
  await upstream.configure({ status_overrides: [] });
});

describe('a webhook run without a thread', () => {
  const subject = `crm-${unique()}`;
  let runsBefore = 0;
  let deliveryId = '';
  let done: DeliveryBody;

  beforeAll(async () => {
    runsBefore = (await upstream.stats()).runs;
    deliveryId = await accepted(await sendHook(TENANT, { message: 'order 42 shipped', subject }));
    done = await waitForDelivery(TENANT, deliveryId);
  });

  it('answers 202 at once and runs the assistant once, recording the result', async () => {
    expect(done).toMatchObject({ delivery_id: deliveryId, status: 'succeeded', attempts: 1 });
    expect(done.result?.content).toBe('Echo: order 42 shipped');
    expect(done.result?.run_id).toMatch(/^run_/);
    expectNoSecrets(JSON.stringify(done), SECRETS);
    expect((await upstream.stats()).runs - runsBefore).toBe(1);
  });

  it("cuts the result's tool calls to the tenant's policy", () => {
    // tool_calls follow the tenant's policy ("name"): no arguments.
    expect(done.result?.tool_calls).toEqual([{ name: 'lookup_order' }]);
  });

  it('runs on a new thread that belongs to the subject', async () => {
    const owner = await baseCaller('acme', subject);
    const threads = await (await owner.edge.v1.threads.$get({ query: {} })).json();
    expect(threads.threads.map((t) => t.thread_id)).toEqual([done.thread_id]);
  });
});

describe('webhook runs', () => {
  it('accepts a timestamp 299 s old', async () => {
    const timestamp = Math.floor(Date.now() / 1000) - 299;
    const deliveryId = await accepted(
      await sendHook(TENANT, { message: 'late', subject: `s-${unique()}` }, { timestamp }),
    );
    expect((await waitForDelivery(TENANT, deliveryId)).status).toBe('succeeded');
  });

  it('runs a repeated webhook-id once: same delivery id, one enqueue, one run', async () => {
    const spy = workerWithQueueSpy();
    const id = messageId();
    const body = { message: 'once please', subject: `s-${unique()}` };
    const first = await accepted(await sendHook(TENANT, body, { id, fetch: spy.fetch }));
    const second = await accepted(await sendHook(TENANT, body, { id, fetch: spy.fetch }));
    expect(second).toBe(first);
    const done = await waitForDelivery(TENANT, first);
    const third = await accepted(await sendHook(TENANT, body, { id, fetch: spy.fetch }));
    expect(third).toBe(first);
    expect(spy.sent).toEqual([{ kind: 'run', tenant: TENANT, delivery_id: first }]);
    expect(await runCalls(done.thread_id ?? '')).toBe(1);
  });

  it('runs ten concurrent copies of one webhook once', async () => {
    const spy = workerWithQueueSpy();
    const id = messageId();
    const before = (await upstream.stats()).runs;
    const body = { message: 'all at once', subject: `s-${unique()}` };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => sendHook(TENANT, body, { id, fetch: spy.fetch })),
    );
    const ids = await Promise.all(responses.map(accepted));
    expect(new Set(ids).size).toBe(1);
    expect(spy.sent).toHaveLength(1);
    const done = await waitForDelivery(TENANT, ids[0] ?? '');
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await runCalls(done.thread_id ?? '')).toBe(1);
    expect((await upstream.stats()).runs - before).toBe(1);
  });

  it('keeps a delivery whose enqueue failed: the retry of the same id enqueues it', async () => {
    const failing = workerWithQueueSpy({ failSends: true });
    const id = messageId();
    const body = { message: 'second time lucky', subject: `s-${unique()}` };
    const refused = await expectError(
      await sendHook(TENANT, body, { id, fetch: failing.fetch }),
      503,
      'QUEUE_UNAVAILABLE',
    );
    expectNoSecrets(JSON.stringify(refused), SECRETS);
    const working = workerWithQueueSpy();
    const deliveryId = await accepted(await sendHook(TENANT, body, { id, fetch: working.fetch }));
    expect(working.sent).toHaveLength(1);
    expect((await waitForDelivery(TENANT, deliveryId)).status).toBe('succeeded');
  });

  it('runs on a given thread when the subject owns it', async () => {
    const owner = `s-${unique()}`;
    const threadId = await threadOf(owner);
    const ok = await accepted(await sendHook(TENANT, { message: 'hi', thread_id: threadId, subject: owner }));
    expect(await waitForDelivery(TENANT, ok)).toMatchObject({ status: 'succeeded', thread_id: threadId });
  });

  it("fails a run on another subject's thread without running it", async () => {
    const threadId = await threadOf(`s-${unique()}`);
    const before = await runCalls(threadId);
    const stranger = await accepted(
      await sendHook(TENANT, { message: 'let me in', thread_id: threadId, subject: `s-${unique()}` }),
    );
    const failed = await waitForDelivery(TENANT, stranger);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'NOT_FOUND' } });
    expect(failed.result).toBeUndefined();
    expectNoSecrets(JSON.stringify(failed), SECRETS);
    expect(await runCalls(threadId)).toBe(before);
  });

  it('dead-letters a run that keeps failing, says so in its status and logs it', async () => {
    const errors = vi.spyOn(console, 'error');
    const subject = `s-${unique()}`;
    const threadId = await threadOf(subject);
    await upstream.configure({
      status_overrides: [{ method: 'POST', path: `/threads/${threadId}/run`, status: 500 }],
    });
    const path = `/__callbacks/${unique()}`;
    const callback_url = `https://hooks.acme.example${path}`;
    const deliveryId = await accepted(
      await sendHook(TENANT, { message: 'doomed', thread_id: threadId, subject, callback_url }),
    );
    const dead = await waitForDelivery(TENANT, deliveryId, (d) => d.status === 'dead_lettered', 15_000);
    // max_retries = 4 in wrangler.toml: five attempts, each reaching the upstream once.
    expect(dead).toMatchObject({
      status: 'dead_lettered',
      attempts: 5,
      error: { code: 'UPSTREAM_BAD_RESPONSE' },
    });
    expect(await runCalls(threadId)).toBe(5);
    expectNoSecrets(JSON.stringify(dead), SECRETS);
    const lines = errors.mock.calls.map((args) => String(args[0]));
    expect(lines.some((l) => l.includes('webhook run dead-lettered') && l.includes(deliveryId))).toBe(true);
    // The sender is told too: one signed callback saying so.
    const sink = new EmulatorControl('https://hooks.acme.example');
    await waitForDelivery(TENANT, deliveryId, (d) => d.callback?.status === 'delivered');
    const [callback] = await sink.callbacks(path);
    expect(JSON.parse(callback?.body ?? '{}')).toEqual({
      delivery_id: deliveryId,
      status: 'dead_lettered',
      thread_id: threadId,
      error: { code: 'UPSTREAM_BAD_RESPONSE', detail: 'The upstream returned an unusable response.' },
    });
  });
});

describe('delivery status route', () => {
  let deliveryId = '';

  beforeAll(async () => {
    deliveryId = await accepted(await sendHook(TENANT, { message: 'status?', subject: `s-${unique()}` }));
    await waitForDelivery(TENANT, deliveryId);
  });

  it('answers a finished delivery with exactly the status fields', async () => {
    const done: DeliveryBody = await waitForDelivery(TENANT, deliveryId);
    expect(Object.keys(done).sort()).toEqual(
      ['attempts', 'created_at', 'delivery_id', 'result', 'status', 'thread_id', 'updated_at'].sort(),
    );
  });

  it('opens once per webhook-id: a replayed lookup is a 401', async () => {
    const id = messageId();
    expect((await lookupDelivery(TENANT, deliveryId, { id })).status).toBe(200);
    await expectError(await lookupDelivery(TENANT, deliveryId, { id }), 401, 'UNAUTHORIZED');
  });

  it('answers an unknown delivery with 404', async () => {
    await expectError(await lookupDelivery(TENANT, 'dlv_unknown'), 404, 'NOT_FOUND');
  });

  it("does not open with a signature over another delivery's path, or without the lookup prefix", async () => {
    const path = `/v1/hooks/${TENANT}/deliveries/${deliveryId}`;
    for (const payload of [`${SIGNED_PREFIX.lookup}/v1/hooks/${TENANT}/deliveries/dlv_unknown`, path]) {
      const ts = Math.floor(Date.now() / 1000);
      const other = messageId();
      const res = await callWorker(path, {
        headers: {
          'webhook-id': other,
          'webhook-timestamp': String(ts),
          'webhook-signature': await signWebhook(HOOK_SECRET, other, ts, payload),
        },
      });
      await expectError(res, 401, 'UNAUTHORIZED');
    }
  });

  it('refuses a session token beside the signature', async () => {
    const token = await sessionToken(TENANTS.acme.session_secret, { tenant: TENANT, sub: 'x' });
    await expectError(
      await lookupDelivery(TENANT, deliveryId, { headers: { authorization: `Bearer ${token}` } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('refuses a tenant without a webhook secret', async () => {
    await expectError(await lookupDelivery('globex', deliveryId), 401, 'UNAUTHORIZED');
  });

  it('hides the delivery from another tenant with the same secret (its own deliveries object)', async () => {
    const gw = testGateway();
    await expectError(
      await lookupDelivery(gw.ids.acme ?? '', deliveryId, { fetch: gw.fetch }),
      404,
      'NOT_FOUND',
    );
  });
});
