import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { attemptRun } from '../../src/queue/attempt';
import { leaseTtlMs } from '../../src/services/admission';
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

describe('webhook runs: exactly one upstream run per delivery', () => {
  it('lets two attempts at one delivery share one upstream run and one result', async () => {
    const config = loadConfig(env);
    if (!config.ok) throw new Error('test bindings are invalid');
    const tenant = config.config.tenants.get('acme');
    if (!tenant) throw new Error('no tenant acme');
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
    const runsBefore = (await upstream.stats()).runs;
    const deps = {
      env,
      config: config.config,
      tenant,
      store,
      budgetMs: leaseTtlMs({ config: config.config }),
    };
    const [first, second] = await Promise.all([
      attemptRun(begun.ticket, deps),
      attemptRun(begun.ticket, deps),
    ]);
    expect(first).toMatchObject({ kind: 'succeeded' });
    expect(second).toEqual(first);
    expect((await upstream.stats()).runs - runsBefore).toBe(1);
  });
});
