import { Webhook } from 'standardwebhooks';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { SIGNED_PREFIX, verifyWebhook } from '../../src/webhooks/signature';
import { TENANTS, UPSTREAM_URL } from '../fixtures/tenants';
import { expectNoSecrets } from '../helpers/assertions';
import { EmulatorControl, type ReceivedCallback } from '../helpers/emulator';
import { unique } from '../helpers/fixtures';
import { parseJson, parseText } from '../helpers/json';
import {
  DeliveryAcceptedSchema,
  type DeliveryBody,
  HOOK_SECRET,
  HOOK_SECRET_NEXT,
  sendHook,
  waitForDelivery,
} from '../helpers/webhooks';

/**
 * Result callbacks through miniflare's real queues: the receiver is the emulator's
 * callback sink on `https://hooks.acme.example` (the fixture tenant's callback origin).
 */
const TENANT = 'acme';
const ORIGIN = 'https://hooks.acme.example';
const sink = new EmulatorControl(ORIGIN);
const upstream = new EmulatorControl(UPSTREAM_URL);
const SECRETS = [HOOK_SECRET, HOOK_SECRET_NEXT, TENANTS.acme.session_secret, 'whsec_'];

/** A result callback's body (contract §8); `strictObject`: no key beyond these. */
const CallbackBodySchema = z.strictObject({
  delivery_id: z.string(),
  status: z.string(),
  thread_id: z.string().nullable(),
  result: z
    .strictObject({ run_id: z.string(), content: z.string(), tool_calls: z.array(z.unknown()) })
    .optional(),
  error: z.strictObject({ code: z.string(), detail: z.string() }).optional(),
});
type CallbackBody = z.output<typeof CallbackBodySchema>;

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
  return parseText(callback.body, CallbackBodySchema);
}

/** Polls the sink until `path` has received a callback; resolves to the first. */
async function firstCallback(path: string, timeoutMs = 10_000): Promise<ReceivedCallback> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [first] = await sink.callbacks(path);
    if (first) return first;
    if (Date.now() > deadline) throw new Error(`no callback on ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The delivery id of an accepted (202) webhook. */
async function accepted(res: Response): Promise<string> {
  expect(res.status).toBe(202);
  return (await parseJson(res, DeliveryAcceptedSchema)).delivery_id;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await upstream.configure({ status_overrides: [] });
});

describe('a callback endpoint that fails twice, then accepts', () => {
  const path = `/__callbacks/${unique()}`;
  let delivery_id = '';
  let done: DeliveryBody;
  let received: ReceivedCallback[] = [];
  let warnings: string[] = [];

  beforeAll(async () => {
    const logs = vi.spyOn(console, 'warn');
    await sink.setCallbackStatuses(path, [500, 503]);
    const res = await sendHook(TENANT, {
      message: 'call me back',
      subject: `s-${unique()}`,
      callback_url: `${ORIGIN}${path}`,
    });
    delivery_id = await accepted(res);
    done = await waitForDelivery(TENANT, delivery_id, (d) => d.callback?.status === 'delivered');
    received = await sink.callbacks(path);
    warnings = logs.mock.calls.map((args) => String(args[0]));
    logs.mockRestore();
  });

  it('retries until it accepts: three attempts, the third accepted', () => {
    expect(done).toMatchObject({ status: 'succeeded', callback: { status: 'delivered', attempts: 3 } });
    expect(received.map((r) => r.status)).toEqual([500, 503, 200]);
    expect(received.filter((r) => r.status < 300)).toHaveLength(1);
  });

  it('signs every attempt afresh under one webhook-id', async () => {
    // One webhook-id for the whole series (the receiver deduplicates by it), fresh signatures.
    await Promise.all(received.map(verified));
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(received[0]?.headers['webhook-id']).toMatch(/^msg_/);
  });

  it('sends the run result in every attempt', async () => {
    const bodies = await Promise.all(received.map(verified));
    expect(bodies).toHaveLength(3);
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
  });

  it("logs each failed attempt, never the URL's path or the body", () => {
    const attempts = warnings.filter((l) => l.includes('webhook callback attempt'));
    expect(attempts.filter((l) => l.includes(delivery_id))).toHaveLength(2);
    for (const line of attempts) {
      expect(line).not.toContain(path);
      expect(line).not.toContain('call me back');
      expectNoSecrets(line, SECRETS);
    }
  });
});

describe('result callbacks', () => {
  it('calls back with the error when the run fails', async () => {
    const path = `/__callbacks/${unique()}`;
    const res = await sendHook(TENANT, {
      message: 'not yours',
      thread_id: 'thread_nobody_owns',
      subject: `s-${unique()}`,
      callback_url: `${ORIGIN}${path}`,
    });
    const delivery_id = await accepted(res);
    expect(await verified(await firstCallback(path))).toEqual({
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
    const delivery_id = await accepted(res);
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
