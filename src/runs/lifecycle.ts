// A run's beginning and end outside its object's log: its first row, and at its end the
// metering and the stream slot it gives back.
import { errorName, log } from '../log';
import { UsageTally } from '../metering/usage';
import type { RunRow } from './log';
import type { StartRun } from './schema';

/** A new run's row: running, nothing logged yet. */
export function newRun(
  runId: string,
  input: Pick<StartRun, 'threadId' | 'tenant' | 'user' | 'lease'>,
  now: number,
): RunRow {
  return {
    run_id: runId,
    thread_id: input.threadId,
    tenant: input.tenant.id,
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
 * A run's end, metered where the fact is: completed (`done`) or cancelled (by a caller,
 * or for want of one), its events, time and upstream calls; counted for the run's user in
 * its tenant's state (written behind there, metering/usage.ts).
 */
export async function meterEnd(
  env: Env,
  row: RunRow,
  status: RunRow['status'],
  upstreamCalls: number,
): Promise<void> {
  const tally = new UsageTally({
    tenant: row.tenant,
    user: row.user,
    requestId: row.run_id,
    stub: () => env.TENANT_STATE.getByName(row.tenant),
  });
  const outcome =
    status === 'done' ? { runs_completed: 1 } : status === 'cancelled' ? { runs_cancelled: 1 } : {};
  tally.add({
    events: row.events,
    run_ms: Date.now() - row.created_at,
    upstream_calls: upstreamCalls,
    ...outcome,
  });
  await tally.ship();
}

/** Frees the run's stream slot in its tenant's state object; never throws. */
export async function releaseSlot(env: Env, row: RunRow): Promise<void> {
  try {
    await env.TENANT_STATE.getByName(row.tenant).releaseLease(row.lease);
  } catch (error) {
    // The slot's lease expires by itself; log it so a stuck slot can be explained.
    log('error', 'run slot not released', { run_id: row.run_id, error: errorName(error) });
  }
}
