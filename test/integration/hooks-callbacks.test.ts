import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SIGNED_PREFIX, verifyWebhook } from '../../src/webhooks/signature';
import { TENANTS, UPSTREAM_URL } from '../fixtures/tenants';
import { expectNoSecrets } from '../helpers/assertions';
import { EmulatorControl, type ReceivedCallback } from '../helpers/emulator';
import { HOOK_SECRET, HOOK_SECRET_NEXT, sendHook, waitForDelivery } from '../helpers/webhooks';

/**
 * Result callbacks through miniflare's real queues: the receiver is the emulator's
 * callback sink on `https://hooks.acme.example` (the fixture tenant's callback origin).
 */
const TENANT = 'acme';
const ORIGIN = 'https://hooks.acme.example';
const sink = new EmulatorControl(ORIGIN);
const upstream = new EmulatorControl(UPSTREAM_URL);
const unique = () => crypto.randomUUID().replaceAll('-', '').slice(0, 10);
const SECRETS = [HOOK_SECRET, HOOK_SECRET_NEXT, TENANTS.acme.session_secret, 'whsec_'];

interface CallbackBody {
  delivery_id: string;
  status: string;
  thread_id: string | null;
  result?: { run_id: string; content: string; tool_calls: unknown[] };
  error?: { code: string; detail: string };
}

/**
 * Asserts a received callback is signed with each of the tenant's secrets over the callback
 * prefix and the body, never over the body alone; resolves to its body.
 */
async function verified(callback: ReceivedCallback): Promise<CallbackBody> {
  const headers = {
    id: callback.headers['webhook-id'],
    timestamp: callback.headers['webhook-timestamp'],
    signature: callback.headers['webhook-signature'],
  };
  // Signed by every active secret (two entries while one rotates): each verifies on its own.
  expect(headers.signature?.split(' ')).toHaveLength(2);
  const signed = `${SIGNED_PREFIX.callback}${callback.body}`;
  for (const secret of [HOOK_SECRET, HOOK_SECRET_NEXT]) {
    expect(await verifyWebhook(secret, headers, signed)).toMatchObject({ ok: true });
    // What the README tells a receiver to do, with the standardwebhooks package.
    expect(() => new Webhook(secret).verify(signed, callback.headers, { jsonParse: false })).not.toThrow();
  }
  // Domain separation: the body alone (what an inbound webhook signs) does not verify.
  expect(await verifyWebhook([HOOK_SECRET, HOOK_SECRET_NEXT], headers, callback.body)).toMatchObject({
    ok: false,
  });
  expect(callback.headers['content-type']).toBe('application/json');
  expect(callback.headers.authorization).toBeUndefined();
  expectNoSecrets(JSON.stringify(callback), SECRETS);
  return JSON.parse(callback.body) as CallbackBody;
}

async function waitForCallbacks(
  path: string,
  count: number,
  timeoutMs = 10_000,
): Promise<ReceivedCallback[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const received = await sink.callbacks(path);
    if (received.length >= count) return received;
    if (Date.now() > deadline) throw new Error(`only ${received.length} callbacks on ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

afterEach(async () => {
  vi.restoreAllMocks();
  await upstream.configure({ status_overrides: [] });
});

describe('result callbacks', () => {
  it('retries a failing endpoint until it accepts: three signed attempts, one accepted', async () => {
    const logs = vi.spyOn(console, 'warn');
    const path = `/__callbacks/${unique()}`;
    await sink.setCallbackStatuses(path, [500, 503]);
    const res = await sendHook(TENANT, {
      message: 'call me back',
      subject: `s-${unique()}`,
      callback_url: `${ORIGIN}${path}`,
    });
    expect(res.status).toBe(202);
    const { delivery_id } = (await res.json()) as { delivery_id: string };
    const done = await waitForDelivery(TENANT, delivery_id, (d) => d.callback?.status === 'delivered');
    expect(done).toMatchObject({ status: 'succeeded', callback: { status: 'delivered', attempts: 3 } });

    const received = await sink.callbacks(path);
    expect(received.map((r) => r.status)).toEqual([500, 503, 200]);
    expect(received.filter((r) => r.status < 300)).toHaveLength(1);
    const bodies = await Promise.all(received.map(verified));
    // One webhook-id for the whole series (the receiver deduplicates by it), fresh signatures.
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(received[0]?.headers['webhook-id']).toMatch(/^msg_/);
    for (const body of bodies) {
      expect(body).toEqual({
        delivery_id,
        status: 'succeeded',
        thread_id: done.thread_id,
        result: {
          run_id: done.result?.run_id,
          content: 'Echo: call me back',
          tool_calls: [{ name: 'lookup_order' }],
        },
      });
    }
    // Each failed attempt was logged with its number and status, never the URL's path or the body.
    const attempts = logs.mock.calls
      .map((args) => String(args[0]))
      .filter((l) => l.includes('webhook callback attempt'));
    expect(attempts.filter((l) => l.includes(delivery_id))).toHaveLength(2);
    for (const line of attempts) {
      expect(line).not.toContain(path);
      expect(line).not.toContain('call me back');
      expectNoSecrets(line, SECRETS);
    }
  });

  it('calls back with the error when the run fails', async () => {
    const path = `/__callbacks/${unique()}`;
    const res = await sendHook(TENANT, {
      message: 'not yours',
      thread_id: 'thread_nobody_owns',
      subject: `s-${unique()}`,
      callback_url: `${ORIGIN}${path}`,
    });
    const { delivery_id } = (await res.json()) as { delivery_id: string };
    const [callback] = await waitForCallbacks(path, 1);
    expect(await verified(callback as ReceivedCallback)).toEqual({
      delivery_id,
      status: 'failed',
      thread_id: 'thread_nobody_owns',
      error: { code: 'NOT_FOUND', detail: 'Not found.' },
    });
  });

  it('gives up on an endpoint that never accepts: dead-lettered, recorded and logged', async () => {
    const errors = vi.spyOn(console, 'error');
    const path = `/__callbacks/${unique()}`;
    await sink.setCallbackStatuses(
      path,
      Array.from({ length: 20 }, () => 500),
    );
    const res = await sendHook(TENANT, {
      message: 'nobody home',
      subject: `s-${unique()}`,
      callback_url: `${ORIGIN}${path}`,
    });
    const { delivery_id } = (await res.json()) as { delivery_id: string };
    const done = await waitForDelivery(
      TENANT,
      delivery_id,
      (d) => d.callback?.status === 'dead_lettered',
      15_000,
    );
    // max_retries = 8 for callbacks (wrangler.toml): nine attempts.
    expect(done).toMatchObject({ status: 'succeeded', callback: { status: 'dead_lettered', attempts: 9 } });
    expect(await sink.callbacks(path)).toHaveLength(9);
    const lines = errors.mock.calls.map((args) => String(args[0]));
    expect(lines.some((l) => l.includes('webhook callback dead-lettered') && l.includes(delivery_id))).toBe(
      true,
    );
  });
});
