import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { operator } from '../helpers/admin';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newThread, unique, usage } from '../helpers/fixtures';
import { callerOf, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import {
  consume,
  DeliveryAcceptedSchema,
  lookupDelivery,
  messageId,
  sendHook,
  workerWithQueueSpy,
} from '../helpers/webhooks';
import { callWorker } from '../helpers/worker';

/**
 * A tenant deleted and created again under the same id (another customer: new secret) is
 * a new tenant: nothing of the former one (threads, blocks, budgets, webhook deliveries,
 * queued jobs) reaches it, and the former one's usage stays exportable.
 */
const OLD_SECRET = `recreate-old-secret-${'o'.repeat(24)}-Ab1c`;
const NEW_SECRET = `recreate-new-secret-${'n'.repeat(24)}-Cd2e`;
// The same webhook secret both times: a replayed old webhook-id must still be new to it.
const WEBHOOK = 'whsec_cmVjcmVhdGUtdGVzdC13ZWJob29rLXNlY3JldA==';

const entry = (secret: string) => ({
  project_id: 'proj_acme',
  session_secret: secret,
  assistants: ['asst_support'],
  webhook_secret: WEBHOOK,
});

const ThreadListSchema = z.object({ threads: z.array(z.object({ thread_id: z.string() })) });
const BlocksSchema = z.object({ users: z.array(z.object({ user: z.string() })) });
const ExportSchema = z.object({ rows: z.array(z.object({ tenant: z.string(), requests: z.number() })) });

const today = () => new Date().toISOString().slice(0, 10);

/** Deletes tenant `id` and creates it again with `secret`; the second PUT must be a creation. */
async function recreate(admin: ReturnType<typeof operator>, id: string, secret: string): Promise<void> {
  expect((await admin.request('DELETE', `/tenants/${id}`)).status).toBe(204);
  const created = await admin.request('PUT', `/tenants/${id}`, { json: entry(secret) });
  expect(created.status, await created.clone().text()).toBe(201);
}

describe('admin API: a tenant deleted and created again', () => {
  it('starts empty: no former threads, blocks, budgets or deliveries, and its usage stays exportable', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const id = `rec-${unique()}`;
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry(OLD_SECRET) })).status).toBe(201);

    const oldAlice = await callerOf(gw.fetch, id, OLD_SECRET, 'alice');
    const thread = await newThread(oldAlice);
    // Read a few times: this isolate now remembers alice as the thread's owner and holds
    // a read lease for her (services/local-reads.ts), good for reads without asking.
    for (let read = 0; read < 3; read++) {
      expect((await oldAlice.request('GET', `/v1/threads/${thread}`)).status).toBe(200);
    }
    expect((await usage(oldAlice)).threads.yours).toBe(1);
    expect((await admin.request('POST', `/tenants/${id}/users/mallory/block`)).status).toBe(200);
    const hookId = messageId();
    const hookBody = { message: 'hello from the old tenant', subject: 'alice' };
    const hooked = await sendHook(id, hookBody, { id: hookId, secret: WEBHOOK, fetch: gw.fetch });
    expect(hooked.status).toBe(202);
    const { delivery_id: oldDelivery } = await parseJson(hooked, DeliveryAcceptedSchema);
    const oldRequests = await requestsOf(admin, id);
    expect(oldRequests).toBeGreaterThan(0);

    await recreate(admin, id, NEW_SECRET);

    const alice = await callerOf(gw.fetch, id, NEW_SECRET, 'alice');
    const watch = await watchUpstream(gw.emulator);
    await expectError(await alice.request('GET', `/v1/threads/${thread}`), 404, 'NOT_FOUND');
    // Refused by the new tenant's state: the upstream was never asked for the old thread.
    await watch.expectNone();
    const listed = await parseJson(await alice.request('GET', '/v1/threads'), ThreadListSchema);
    expect(listed.threads).toEqual([]);
    const report = await usage(alice);
    expect(report.threads).toMatchObject({ yours: 0, tenant_total: 0 });
    for (const budget of Object.values(report.budgets)) expect(budget.used).toBe(0);

    const blocks = await parseJson(await admin.request('GET', `/tenants/${id}/blocks`), BlocksSchema);
    expect(blocks.users).toEqual([]);
    const mallory = await callerOf(gw.fetch, id, NEW_SECRET, 'mallory');
    expect((await mallory.request('GET', '/v1/threads')).status).toBe(200);

    const options = { secret: WEBHOOK, fetch: gw.fetch };
    expect((await lookupDelivery(id, oldDelivery, options)).status).toBe(404);
    const replayed = await sendHook(id, hookBody, { ...options, id: hookId });
    expect(replayed.status).toBe(202);
    const { delivery_id: newDelivery } = await parseJson(replayed, DeliveryAcceptedSchema);
    expect(newDelivery).not.toBe(oldDelivery);

    // The former tenant's counts are still exported under the id, summed with the new one's.
    expect(await requestsOf(admin, id)).toBeGreaterThan(oldRequests);
  });

  it('drops a run job queued before the delete: it never runs for the new tenant', async () => {
    const admin = operator();
    const id = `rec-${unique()}`;
    const subject = `hook-${unique()}`;
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry(OLD_SECRET) })).status).toBe(201);
    // Recorded by the real ingress with the base bindings (the queue consumer's), never enqueued.
    const failing = workerWithQueueSpy({ failSends: true });
    const res = await sendHook(
      id,
      { message: 'queued before the delete', subject },
      { secret: WEBHOOK, fetch: failing.fetch },
    );
    expect(res.status).toBe(503);
    const [job] = failing.sent;
    const { delivery_id } = z.object({ delivery_id: z.string() }).parse(job);

    await recreate(admin, id, NEW_SECRET);

    expect(await consume('epsimo-edge-runs', job, 1)).toEqual({
      acked: true,
      retried: false,
      delaySeconds: undefined,
    });
    // Failed where it was recorded: the former tenant's deliveries object (its first scope is the id).
    const stored = await runInDurableObject(env.DELIVERIES.getByName(id), (_instance, state) =>
      state.storage.sql
        .exec<{ status: string; error: string | null }>(
          'SELECT status, error FROM deliveries WHERE delivery_id = ?',
          delivery_id,
        )
        .one(),
    );
    expect(stored.status).toBe('failed');
    expect(stored.error).toContain('CONFIG_INVALID');
    // And the new tenant's subject has no thread of it.
    const user = await callerOf(callWorker, id, NEW_SECRET, subject);
    const listed = await parseJson(await user.request('GET', '/v1/threads'), ThreadListSchema);
    expect(listed.threads).toEqual([]);
  });
});

/** The tenant's exported `requests` of today (every incarnation's). */
async function requestsOf(admin: ReturnType<typeof operator>, id: string): Promise<number> {
  const res = await admin.request('GET', `/usage?tenant=${id}&from=${today()}&to=${today()}`);
  expect(res.status).toBe(200);
  const { rows } = await parseJson(res, ExportSchema);
  return rows.reduce((sum, row) => sum + row.requests, 0);
}
