import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { deliveryCount, messageId, sendHook } from '../helpers/webhooks';
import { testEnv } from '../helpers/worker';

/**
 * These tests are about what the ingress accepts, not the runs: the run queue is a stub
 * that takes the jobs and starts nothing, so no background work outlives the file.
 */
const nothing = { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) };
/** Every job sent to the stub queue, in order (all tests together). */
const sent: unknown[] = [];
const noQueue: Queue = {
  metrics: () => env.RUNS.metrics(),
  send: async (message) => {
    sent.push(message);
    return { metadata: { metrics: nothing } };
  },
  sendBatch: async () => ({ metadata: { metrics: nothing } }),
};

/** Webhook ingress limits: the tenant's rate, and one body per webhook-id. */
function setup(limits: Record<string, number> = {}) {
  const gw = testGateway({
    tenants: { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, ...limits } } },
  });
  const tenant = gw.ids.acme ?? '';
  const fetch = async (path: string, init: RequestInit = {}) => {
    const ctx = createExecutionContext();
    const request = new Request(new URL(path, 'https://edge.test'), init);
    const response = await worker.fetch(request, { ...testEnv(gw.overrides), RUNS: noQueue }, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  const hook = (body: unknown, id = messageId(), headers: Record<string, string> = {}) =>
    sendHook(tenant, body, { fetch, id, headers });
  return { tenant, hook };
}

describe('webhook ingress limits', () => {
  it('answers a reused webhook-id with another body 409 IDEMPOTENCY_CONFLICT, recording nothing new', async () => {
    const { tenant, hook } = setup();
    const id = messageId();
    expect((await hook({ message: 'first' }, id)).status).toBe(202);
    const conflict = await hook({ message: 'second' }, id);
    expect(conflict.headers.get('ratelimit')).toMatch(/^"tenant";r=\d+;t=\d+$/);
    await expectError(conflict, 409, 'IDEMPOTENCY_CONFLICT');
    expect((await hook({ message: 'first' }, id)).status).toBe(202);
    expect(await deliveryCount(tenant)).toBe(1);
  });

  it("counts signed webhooks against the tenant's rate and records none it refuses", async () => {
    // The tenant bucket holds max(burst, rpm / 6) = 2 here; a user bucket plays no part.
    const { tenant, hook } = setup({ burst: 1, requests_per_minute: 1, tenant_requests_per_minute: 12 });
    const one = await hook({ message: 'one' });
    expect(one.status).toBe(202);
    // Every answer after the count says what is left of the tenant's bucket, and names no user's.
    expect(one.headers.get('ratelimit')).toMatch(/^"tenant";r=1;t=\d+$/);
    expect(one.headers.get('ratelimit-policy')).toMatch(/^"tenant";q=2;w=\d+$/);
    expect((await hook({ message: 'two' })).status).toBe(202);
    const third = await hook({ message: 'three' });
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(third.headers.get('ratelimit')).toMatch(/^"tenant";r=0;t=\d+$/);
    await expectError(third, 429, 'RATE_LIMITED');
    expect(await deliveryCount(tenant)).toBe(2);
  });

  it("takes no token of the tenant's bucket for a body that is not JSON, and enqueues nothing", async () => {
    // A bucket of 2, as above: two refused bodies and then two webhooks that are both let in.
    const { tenant, hook } = setup({ burst: 1, requests_per_minute: 1, tenant_requests_per_minute: 12 });
    const before = sent.length;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/plain']) {
      const res = await hook({ message: 'typed' }, messageId(), { 'content-type': type });
      expect(res.headers.get('ratelimit'), type).toBeNull();
      await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    expect(sent.length).toBe(before);
    expect(await deliveryCount(tenant)).toBe(0);
    const one = await hook({ message: 'one' });
    expect(one.headers.get('ratelimit')).toMatch(/^"tenant";r=1;t=\d+$/);
    expect(one.status).toBe(202);
    expect((await hook({ message: 'two' })).status).toBe(202);
    expect(sent.length).toBe(before + 2);
  });
});
