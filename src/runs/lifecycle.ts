// A run's beginning and end outside its object's log: its first row, and at its end the
// stream slot it gives back with what it metered (or, for a run its object died with, its
// `RUN_LOST` end).

import type { SpendMark } from '../limits/windows';
import { errorName, log } from '../log';
import type { UsageEntry } from '../metering/metrics';
import { UsageTally } from '../metering/usage';
import { runError } from '../stream/events';
import { LOG_BATCH_MAX } from './batch';
import type { RunLog, RunRow } from './log';
import type { StartRun } from './schema';
import type { Wakeups } from './wakeups';

/** A new run's row: running, nothing logged yet. */
export function newRun(
  runId: string,
  input: Pick<StartRun, 'threadId' | 'tenant' | 'user' | 'lease'>,
  now: number,
): RunRow {
  return {
    run_id: runId,
    thread_id: input.threadId,
    // The scope: the run's end goes to the state object of the incarnation that started it.
    tenant: input.tenant.scope,
    user: input.user,
    status: 'running',
    created_at: now,
    ended_at: null,
    error: null,
    lease: input.lease,
    events: 0,
    log_bytes: 0,
    log_complete: 1,
    log_pruned: 0,
  };
}

/**
 * A run's end in its tenant's state, in one call: its stream slot given back and what is
 * metered where the fact is (completed on `done` or cancelled, by a caller or for want of
 * one; its events, time and upstream calls), counted for the run's user. A call lost to
 * an object reset is sent once more (metering/usage.ts); one that still fails is logged
 * as `usage not recorded`, and the slot's lease expires by itself. Never throws.
 */
export async function endRun(
  env: Env,
  row: RunRow,
  status: RunRow['status'],
  upstreamCalls: number,
  refund: readonly SpendMark[] = [],
): Promise<void> {
  const state = () => env.TENANT_STATE.getByName(row.tenant);
  const tally = new UsageTally({
    tenant: row.tenant,
    user: row.user,
    requestId: row.run_id,
    // The counts ride on the slot's release: one call to the tenant's object per run end.
    stub: () => ({ meter: (entries: UsageEntry[]) => state().releaseLease(row.lease, [...refund], entries) }),
  });
  const outcome =
    status === 'done' ? { runs_completed: 1 } : status === 'cancelled' ? { runs_cancelled: 1 } : {};
  tally.add({
    events: row.events,
    run_ms: Date.now() - row.created_at,
    upstream_calls: upstreamCalls,
    ...outcome,
  });
  await (tally.ship() ?? releaseSlot(env, row, refund));
}

/** Frees the run's stream slot (with `refund`, the units it gives back) in its tenant's state object; never throws. */
export async function releaseSlot(env: Env, row: RunRow, refund: readonly SpendMark[] = []): Promise<void> {
  try {
    await env.TENANT_STATE.getByName(row.tenant).releaseLease(row.lease, [...refund]);
  } catch (error) {
    // The slot's lease expires by itself; log it so a stuck slot can be explained.
    log('error', 'run slot not released', { run_id: row.run_id, error: errorName(error) });
  }
}

/** How long the log of a run found lost is kept (its own settings died with it). */
const LOST_RETENTION_MS = 15 * 60_000;

/**
 * A fresh instance holds no live run: any run storage still calls running was being read
 * by an instance that died. It ends `RUN_LOST` (logged, so a caller who resumes learns it)
 * and its slot is freed.
 */
export async function recoverLost(env: Env, runs: RunLog, wakeups: Wakeups): Promise<void> {
  for (let row = runs.running(); row; row = runs.running()) {
    const event = runError('RUN_LOST');
    // Past any event relayed and not yet logged when the instance died.
    row.events += LOG_BATCH_MAX + 1;
    runs.append(row, [{ n: row.events, event }]);
    const at = Date.now();
    runs.finish(row, 'error', at, LOST_RETENTION_MS, event);
    wakeups.due(at + LOST_RETENTION_MS);
    log('warn', 'run lost with its object', { run_id: row.run_id });
    await releaseSlot(env, row);
  }
}
