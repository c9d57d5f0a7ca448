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
      const row = { run_id: runId, thread_id: 'thread_1', tenant, user: 'u', lease, created_at: Date.now() };
      log.create({ ...row, body_hash: null });
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

/**
 * A deployed runs object created its `runs` table before the run's message hash was kept:
 * the next instance adds the column, and the runs it already holds (no hash to compare)
 * keep attaching to a re-posted `Last-Event-ID` whatever its message, as they did.
 */
describe('ThreadRuns: a runs table from before the message hash', () => {
  it('gains the column once; its old runs attach to any message, a new run only to its own', async () => {
    const runs = env.THREAD_RUNS.getByName(`old-${crypto.randomUUID().slice(0, 8)}:runs:0`);
    const [old, fresh] = [`run_${'b'.repeat(32)}`, `run_${'c'.repeat(32)}`];
    const at = { threadId: 'thread_1', user: 'u' };
    const resume = (runId: string, bodyHash: string) => ({ ...at, resume: { runId, after: 1, bodyHash } });
    await runInDurableObject(runs, (_, state) => {
      const { sql } = state.storage;
      // The table as an object deployed before the column has it.
      sql.exec('DROP TABLE runs');
      sql.exec(`CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, tenant TEXT NOT NULL, user TEXT NOT NULL,
        status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER, error TEXT,
        lease TEXT NOT NULL, events INTEGER NOT NULL DEFAULT 0, log_bytes INTEGER NOT NULL DEFAULT 0,
        log_complete INTEGER NOT NULL DEFAULT 1, log_pruned INTEGER NOT NULL DEFAULT 0,
        retain_until INTEGER)`);
      sql.exec(
        "INSERT INTO runs (run_id, thread_id, tenant, user, status, created_at, lease) VALUES (?, 'thread_1', 't', 'u', 'running', ?, 'l')",
        old,
        Date.now(),
      );
      // What the next instance's constructor does, and the one after it (no second ALTER).
      new RunLog(sql);
      const log = new RunLog(sql);
      const columns = sql.exec<{ name: string }>('PRAGMA table_info(runs)').toArray();
      expect(columns.filter((column) => column.name === 'body_hash')).toHaveLength(1);

      expect(log.get(old)?.body_hash).toBeNull();
      expect(log.named(resume(old, 'any'), Date.now())).toEqual({ kind: 'run', runId: old, after: 1 });
      log.create({
        run_id: fresh,
        thread_id: 'thread_1',
        tenant: 't',
        user: 'u',
        lease: 'l',
        created_at: 0,
        body_hash: 'h',
      });
      expect(log.named(resume(fresh, 'h'), Date.now())).toEqual({ kind: 'run', runId: fresh, after: 1 });
      expect(log.named(resume(fresh, 'other'), Date.now())).toEqual({
        kind: 'conflict',
        by: 'Last-Event-ID',
      });
    });
  });
});
