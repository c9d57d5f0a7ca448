import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { attemptRun } from '../../src/queue/attempt';
import { leaseTtlMs } from '../../src/services/admission';
import type { Tenant } from '../../src/tenant';
import { UPSTREAM_URL } from '../fixtures/tenants';
import { EmulatorControl } from '../helpers/emulator';
import { newThread, unique } from '../helpers/fixtures';
import { baseCaller } from '../helpers/gateway';

/**
 * A webhook delivery processed twice (a queue redelivers a message whose consumer died
 * mid-run) makes one upstream run: the run's idempotency key is the delivery id, so the
 * second attempt attaches to the run the first one started and reads the same result.
 */
const upstream = new EmulatorControl(UPSTREAM_URL);

/** A delivery accepted and begun for a new subject on a thread of theirs, and what attempts run with. */
async function begunDelivery(limits: Partial<Tenant['limits']> = {}) {
  const config = loadConfig(env);
  if (!config.ok) throw new Error('test bindings are invalid');
  const acme = config.config.tenants.get('acme');
  if (!acme) throw new Error('no tenant acme');
  const tenant: Tenant = { ...acme, limits: { ...acme.limits, ...limits } };
  const subject = `once-${unique()}`;
  const threadId = await newThread(await baseCaller('acme', subject));
  const store = env.DELIVERIES.getByName('acme');
  const { delivery_id } = await store.accept({
    tenant: 'acme',
    webhook_id: `msg_${unique()}`,
    body_hash: unique(),
    request: {
      subject,
      message: 'hello twice',
      thread_id: threadId,
      assistant_id: null,
      callback_url: null,
    },
  });
  const begun = await store.begin(delivery_id, 60_000);
  if (begun.action !== 'run') throw new Error(`begin: ${begun.action}`);
  const deps = { env, config: config.config, tenant, store, budgetMs: leaseTtlMs({ config: config.config }) };
  return { ticket: begun.ticket, deps };
}

describe('webhook runs: exactly one upstream run per delivery', () => {
  it('lets two attempts at one delivery share one upstream run and one result', async () => {
    const { ticket, deps } = await begunDelivery();
    const runsBefore = (await upstream.stats()).runs;
    const [first, second] = await Promise.all([attemptRun(ticket, deps), attemptRun(ticket, deps)]);
    expect(first).toMatchObject({ kind: 'succeeded' });
    expect(second).toEqual(first);
    expect((await upstream.stats()).runs - runsBefore).toBe(1);
  });

  it('lets a retry read the run its first attempt finished, with no run unit left for a new one', async () => {
    const { ticket, deps } = await begunDelivery({ runs_per_user_per_day: 1, streams_per_user: 1 });
    const runsBefore = (await upstream.stats()).runs;
    const first = await attemptRun(ticket, deps);
    expect(first).toMatchObject({ kind: 'succeeded' });
    // The retry is admitted without a slot or a unit: the first attempt paid for its run.
    expect(await attemptRun(ticket, deps)).toEqual(first);
    expect((await upstream.stats()).runs - runsBefore).toBe(1);
  });
  // Two attempts at once take no claim: the second attaches to the first's run before the upstream answers it.
  it('fails both attempts, succeeding neither with an empty result, when the upstream refused their run', async () => {
    const { ticket, deps } = await begunDelivery();
    const runsBefore = (await upstream.stats()).runs;
    await upstream.configure({
      latency_ms: 300,
      status_overrides: [{ method: 'POST', path: '/threads/*/run', status: 503, times: 1 }],
    });
    try {
      const attempts = await Promise.all([attemptRun(ticket, deps), attemptRun(ticket, deps)]);
      expect(attempts.map((attempt) => attempt.kind)).toEqual(['retry', 'retry']);
    } finally {
      await upstream.configure({ latency_ms: 0, status_overrides: [] });
    }
    expect((await upstream.stats()).runs).toBe(runsBefore);
    // The retry the queue makes runs it.
    expect(await attemptRun(ticket, deps)).toMatchObject({
      kind: 'succeeded',
      result: { content: 'Echo: hello twice' },
    });
  });
});
