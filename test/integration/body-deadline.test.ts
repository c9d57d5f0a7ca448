import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { signWebhook } from '../../src/webhooks/signature';
import { ADMIN_KEY } from '../fixtures/tenants';
import { operator } from '../helpers/admin';
import { expectError, watchUpstream } from '../helpers/assertions';
import { unique } from '../helpers/fixtures';
import { testGateway } from '../helpers/gateway';
import { deliveryCount, HOOK_SECRET, messageId } from '../helpers/webhooks';
import { testEnv } from '../helpers/worker';

/**
 * The body rules of the session routes (a declared length over the cap refused unread,
 * `BODY_TIMEOUT_MS`, a body that breaks off) on the two other kinds of route that take a
 * body: the webhook ingress, open to anyone until its signature is checked, and the admin
 * API. Each refused body leaves nothing behind: no delivery recorded (so nothing enqueued),
 * no upstream call, no tenant written. What a real connection does (a caller who hangs
 * up, workerd as a process) is test/process/body-deadline.test.mjs.
 */

/**
 * Calls the Worker the way `wrangler dev` (`npm start`) does: after the Worker answers,
 * and before the answer goes out, wrangler reads to its end whatever request body the
 * Worker left untouched (its templates/middleware/middleware-ensure-req-body-drained.ts,
 * the same steps here). A refusal that never touched a body that never ends is then
 * never sent: how a declared length over the cap hung the webhook and admin routes.
 */
async function callDrained(
  path: string,
  init: RequestInit = {},
  overrides: Partial<Record<keyof Env, string>> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(new URL(path, 'https://edge.test'), init);
  try {
    return await worker.fetch(request, testEnv(overrides), ctx);
  } finally {
    try {
      if (request.body !== null && !request.bodyUsed) {
        const reader = request.body.getReader();
        while (!(await reader.read()).done) {}
      }
    } catch {
      // wrangler logs "Failed to drain the unused request body." and answers.
    }
    await waitOnExecutionContext(ctx);
  }
}

const BODY_TIMEOUT_MS = 300;
/** Far above the deadline, far below the pool's 20 s: a request that hangs fails here. */
const ANSWERED_WITHIN_MS = 5000;

const BODY = '{"message":"a webhook that never finishes"}';

/** A body whose first bytes arrive and whose rest never does, or that then breaks off. */
function bodyThat(then: 'stalls' | 'breaks', first = BODY.slice(0, 12)): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(new TextEncoder().encode(first));
        return;
      }
      if (then === 'breaks') {
        controller.error(new Error('the connection was reset'));
        return;
      }
      return new Promise<void>(() => {});
    },
  });
}

function setup() {
  const gw = testGateway({ bindings: { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) } });
  const tenant = gw.ids.acme ?? '';
  /** A signed webhook whose body is `body` (the signature covers the whole of {@link BODY}). */
  const drained = (path: string, init: RequestInit = {}) => callDrained(path, init, gw.overrides);
  const hook = async (
    body: ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
    call = gw.fetch,
  ) => {
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    return call(`/v1/hooks/${tenant}/run`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': await signWebhook(HOOK_SECRET, id, ts, BODY),
        ...headers,
      },
      body,
    });
  };
  const admin = operator(gw.overrides);
  const adminId = `adm-${unique()}`;
  /** `PUT /admin/v1/tenants/{adminId}` with `body`. */
  const putTenant = (
    body: ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
    call = gw.fetch,
  ) =>
    call(`/admin/v1/tenants/${adminId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers },
      body,
    });
  const noTenantWritten = async () => {
    await expectError(await admin.request('GET', `/tenants/${adminId}`), 404, 'NOT_FOUND');
  };
  return { gw, tenant, drained, hook, putTenant, noTenantWritten };
}

describe('webhook ingress: a body that does not arrive', () => {
  it(
    'refuses a declared length over 64 KiB with 413 before any of it arrives, also under wrangler dev',
    async () => {
      const { gw, tenant, drained, hook } = setup();
      const upstream = await watchUpstream(gw.emulator);
      const res = await hook(bodyThat('stalls'), { 'content-length': String(100_000_000) }, drained);
      await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(await deliveryCount(tenant)).toBe(0);
      await upstream.expectNone();
    },
    ANSWERED_WITHIN_MS,
  );

  it(
    'answers a stalled body with 408 after BODY_TIMEOUT_MS, recording nothing',
    async () => {
      const { gw, tenant, hook } = setup();
      const upstream = await watchUpstream(gw.emulator);
      await expectError(await hook(bodyThat('stalls')), 408, 'REQUEST_TIMEOUT');
      expect(await deliveryCount(tenant)).toBe(0);
      await upstream.expectNone();
    },
    ANSWERED_WITHIN_MS,
  );

  it(
    'answers a body that breaks off with 400, not 500, recording nothing',
    async () => {
      const { gw, tenant, hook } = setup();
      const upstream = await watchUpstream(gw.emulator);
      await expectError(await hook(bodyThat('breaks')), 400, 'BAD_REQUEST');
      expect(await deliveryCount(tenant)).toBe(0);
      await upstream.expectNone();
    },
    ANSWERED_WITHIN_MS,
  );
});

describe('admin API: a body that does not arrive', () => {
  it(
    'refuses a declared length over 64 KiB with 413 before any of it arrives, also under wrangler dev',
    async () => {
      const { drained, putTenant, noTenantWritten } = setup();
      const res = await putTenant(
        bodyThat('stalls', '{"project_id":'),
        { 'content-length': String(100_000_000) },
        drained,
      );
      await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      await noTenantWritten();
    },
    ANSWERED_WITHIN_MS,
  );

  it(
    'answers a stalled body with 408 after BODY_TIMEOUT_MS, writing no tenant',
    async () => {
      const { putTenant, noTenantWritten } = setup();
      await expectError(await putTenant(bodyThat('stalls', '{"project_id":')), 408, 'REQUEST_TIMEOUT');
      await noTenantWritten();
    },
    ANSWERED_WITHIN_MS,
  );

  it(
    'answers a body that breaks off with 400, not 500, writing no tenant',
    async () => {
      const { putTenant, noTenantWritten } = setup();
      await expectError(await putTenant(bodyThat('breaks', '{"project_id":')), 400, 'BAD_REQUEST');
      await noTenantWritten();
    },
    ANSWERED_WITHIN_MS,
  );
});
