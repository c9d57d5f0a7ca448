import { errorName, log } from '../log';
import type { CallbackJob, RunJob } from './schemas';
import { type DeliveryRow, SWEEP_AFTER_MS } from './store';

/** The queues the sweep re-sends to. */
export interface SweepQueues {
  runs: Queue;
  callbacks: Queue;
}

/**
 * The deliveries object's alarm, for one row whose `sweep_at` is due: whatever a vanished
 * Worker left pending is sent again. A `running` row whose lease ended (its attempt died
 * without a word) goes back to `queued` and onto the queue; a run never confirmed on the
 * queue is re-sent; a callback never confirmed is re-sent. A copy that turns out to be a
 * duplicate is harmless: `begin` and `callbackAttempt` skip what already happened. A
 * failed send is tried again a minute later.
 */
export async function sweep(
  sql: SqlStorage,
  queues: SweepQueues,
  row: DeliveryRow,
  now: number,
): Promise<void> {
  const fields = { tenant: row.tenant, delivery_id: row.delivery_id };
  const run: RunJob = { kind: 'run', tenant: row.tenant, delivery_id: row.delivery_id };
  const enqueued = () =>
    sql.exec(
      "UPDATE deliveries SET enqueue = 'sent', sweep_at = NULL WHERE delivery_id = ?",
      row.delivery_id,
    );
  try {
    if (row.status === 'running' && (row.lease_until ?? 0) <= now) {
      sql.exec(
        "UPDATE deliveries SET status = 'queued', lease_until = NULL, enqueue = 'pending' WHERE delivery_id = ?",
        row.delivery_id,
      );
      await queues.runs.send(run);
      enqueued();
      log('warn', 'webhook run lease expired; re-enqueued', fields);
    } else if (row.status === 'queued' && row.enqueue !== 'sent') {
      await queues.runs.send(run);
      enqueued();
      log('warn', 'webhook run re-enqueued by sweep', fields);
    } else if (row.callback_state === 'pending') {
      const job: CallbackJob = { kind: 'callback', tenant: row.tenant, delivery_id: row.delivery_id };
      await queues.callbacks.send(job);
      sql.exec(
        "UPDATE deliveries SET callback_state = 'queued', sweep_at = NULL WHERE delivery_id = ? AND callback_state = 'pending'",
        row.delivery_id,
      );
      log('warn', 'webhook callback re-enqueued by sweep', fields);
    } else {
      sql.exec('UPDATE deliveries SET sweep_at = NULL WHERE delivery_id = ?', row.delivery_id);
    }
  } catch (error) {
    log('error', 'webhook sweep failed', {
      ...fields,
      error: errorName(error),
    });
    sql.exec(
      'UPDATE deliveries SET sweep_at = ? WHERE delivery_id = ?',
      now + SWEEP_AFTER_MS,
      row.delivery_id,
    );
  }
}
