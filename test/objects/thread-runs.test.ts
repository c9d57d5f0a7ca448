import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { recoverLost } from '../../src/runs/lifecycle';
import { RunLog } from '../../src/runs/log';
import { Wakeups } from '../../src/runs/wakeups';
import { DEFAULT_LIMITS } from '../../src/tenant';

/**
 * A run whose object died mid-run: a fresh instance holds no live run, so whatever its
 * storage still calls running was being read by an instance that is gone. It must end
 * `RUN_LOST` (logged, for a caller who resumes) and free its stream slot.
 */
describe('ThreadRuns: runs lost with their object', () => {
  it('ends a running run left in storage with RUN_LOST and releases its slot', async () => {
    const tenant = `lost-${crypto.randomUUID().slice(0, 8)}`;
    const limits = { ...DEFAULT_LIMITS, concurrent_streams: 1 };
    const state = env.TENANT_STATE.getByName(tenant);
    const admitted = await state.admit({ tenant, user: 'u', limits, lease: { ttlMs: 600_000 } });
    if (!admitted.ok || !admitted.lease) throw new Error('no lease');
    expect(await state.admit({ tenant, user: 'v', limits, lease: { ttlMs: 600_000 } })).toMatchObject({
      ok: false,
      reason: 'streams',
    });

    const runs = env.THREAD_RUNS.getByName(`${tenant}:thread_1`);
    const runId = `run_${'a'.repeat(32)}`;
    const lease = admitted.lease;
    await runInDurableObject(runs, (_, storage) => {
      const log = new RunLog(storage.storage.sql);
      log.create({ run_id: runId, thread_id: 'thread_1', tenant, user: 'u', lease, created_at: Date.now() });
    });
    // What the constructor of the next instance does.
    await runInDurableObject(runs, async (_, state) => {
      const log = new RunLog(state.storage.sql);
      await recoverLost(env, log, new Wakeups(state.storage, log));
    });

    const at = { threadId: 'thread_1', user: 'u' };
    expect(await runs.get(at, runId)).toMatchObject({
      status: 'error',
      error: { code: 'RUN_LOST' },
    });
    const replay = await runs.attach(at, runId, 0, 0);
    expect(replay.kind).toBe('attached');
    if (replay.kind === 'attached')
      expect(await new Response(replay.stream).text()).toMatch(/event: error\ndata: \{"code":"RUN_LOST"/);
    // The slot is free again.
    expect(await state.admit({ tenant, user: 'v', limits, lease: { ttlMs: 600_000 } })).toMatchObject({
      ok: true,
    });
  });
});
