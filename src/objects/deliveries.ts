import { DurableObject } from 'cloudflare:workers';
import { log } from '../log';
import type { DeliveryError, DeliveryRequest } from '../webhooks/schemas';
import {
  type AcceptInput,
  type AcceptResult,
  type BeginResult,
  DELIVERIES_SCHEMA,
  type DeliveryRow,
  insertDelivery,
  type LookupResult,
  NONCE_TTL_MS,
  nextWakeUp,
  type Outcome,
  SWEEP_AFTER_MS,
  storedResult,
  TERMINAL,
} from '../webhooks/store';
import { sweep } from '../webhooks/sweep';

export type {
  AcceptInput,
  AcceptResult,
  BeginResult,
  DeliveryRow,
  LookupResult,
  Outcome,
  RunTicket,
} from '../webhooks/store';

/** An enqueue that has not been confirmed within this long may be claimed by a repeat. */
const CLAIM_MS = 30_000;

/**
 * One object per tenant incarnation (its scope, `scopeOf` in tenant.ts), SQLite-backed: the
 * webhook-id idempotency records and each delivery's life (`queued` → `running` →
 * `succeeded` | `failed` | `dead_lettered`), its attempts, result or error, thread and
 * callback state. Each method is one synchronous transaction, so a check and the write
 * it decides cannot interleave with another call. The alarm deletes records after 72 h
 * (`RETENTION_MS`) and re-sends what a vanished Worker left pending.
 */
export class Deliveries extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(DELIVERIES_SCHEMA);
  }

  /**
   * Records a verified webhook once per webhook-id (check and insert in one step). A
   * repeat gets the same delivery id and no enqueue, unless the first enqueue failed or
   * was never confirmed, in which case the repeat takes it over.
   */
  async accept(input: AcceptInput): Promise<AcceptResult> {
    const now = Date.now();
    const row = this.byWebhookId(input.webhook_id);
    if (row) {
      if (row.body_hash !== input.body_hash) {
        log('warn', 'webhook-id reused with another body', {
          tenant: input.tenant,
          delivery_id: row.delivery_id,
        });
        return { delivery_id: row.delivery_id, duplicate: true, enqueue: false, conflict: true };
      }
      const stale =
        row.enqueue === 'failed' || (row.enqueue === 'pending' && row.claimed_at + CLAIM_MS <= now);
      if (!stale) return { delivery_id: row.delivery_id, duplicate: true, enqueue: false };
      this.sql.exec(
        "UPDATE deliveries SET enqueue = 'pending', claimed_at = ? WHERE delivery_id = ?",
        now,
        row.delivery_id,
      );
      return { delivery_id: row.delivery_id, duplicate: true, enqueue: true };
    }
    const deliveryId = insertDelivery(this.sql, input, now);
    await this.schedule();
    return { delivery_id: deliveryId, duplicate: false, enqueue: true };
  }

  /** The run job is on the queue. */
  async enqueued(deliveryId: string): Promise<void> {
    this.sql.exec(
      "UPDATE deliveries SET enqueue = 'sent', sweep_at = NULL WHERE delivery_id = ? AND enqueue != 'sent'",
      deliveryId,
    );
  }

  /** The enqueue failed: a repeat of the webhook-id (or the alarm) re-sends it. */
  async enqueueFailed(deliveryId: string): Promise<void> {
    this.sql.exec(
      "UPDATE deliveries SET enqueue = 'failed', sweep_at = ? WHERE delivery_id = ? AND enqueue != 'sent'",
      Date.now() + SWEEP_AFTER_MS,
      deliveryId,
    );
    await this.schedule();
  }

  /**
   * A run job starts an attempt: `running`, one more attempt, a lease of `leaseMs` so
   * that a redelivered copy of the message waits instead of running twice.
   */
  async begin(deliveryId: string, leaseMs: number): Promise<BeginResult> {
    const now = Date.now();
    const row = this.byDeliveryId(deliveryId);
    if (!row) return { action: 'missing' };
    if (TERMINAL.has(row.status)) return { action: 'done', callback: row.callback_state === 'pending' };
    if (row.status === 'running' && (row.lease_until ?? 0) > now) {
      return { action: 'busy', retryAfter: Math.ceil(((row.lease_until ?? now) - now) / 1000) };
    }
    // The alarm looks again when the lease ends: an attempt that vanished is re-queued.
    this.sql.exec(
      `UPDATE deliveries SET status = 'running', attempts = attempts + 1, lease_until = ?, enqueue = 'sent',
         sweep_at = ?, updated_at = ? WHERE delivery_id = ?`,
      now + leaseMs,
      now + leaseMs + SWEEP_AFTER_MS,
      now,
      deliveryId,
    );
    await this.schedule();
    const request: DeliveryRequest = {
      subject: row.subject,
      message: row.message ?? '',
      thread_id: row.thread_id,
      assistant_id: row.assistant_id,
      callback_url: row.callback_url,
    };
    return { action: 'run', ticket: { delivery_id: deliveryId, attempt: row.attempts + 1, request } };
  }

  /** The thread a run created: later attempts run on it instead of creating another. */
  async setThread(deliveryId: string, threadId: string): Promise<void> {
    this.sql.exec('UPDATE deliveries SET thread_id = ? WHERE delivery_id = ?', threadId, deliveryId);
  }

  /** The attempt failed in a way a retry may fix: back to `queued`, the error kept. */
  async retryLater(deliveryId: string, error: DeliveryError): Promise<void> {
    this.sql.exec(
      `UPDATE deliveries SET status = 'queued', lease_until = NULL, sweep_at = NULL, error = ?, updated_at = ?
       WHERE delivery_id = ? AND status = 'running'`,
      JSON.stringify(error),
      Date.now(),
      deliveryId,
    );
  }

  /** The run ended; resolves to whether a callback has to be queued. */
  async finish(deliveryId: string, outcome: Outcome): Promise<{ callback: boolean }> {
    const result = outcome.status === 'succeeded' ? storedResult(outcome.result) : null;
    const error = outcome.status === 'failed' ? JSON.stringify(outcome.error) : null;
    return this.end(deliveryId, outcome.status, result, error);
  }

  /**
   * The run job exhausted its retries (the dead-letter queue's consumer calls this).
   * A delivery that already ended keeps its status.
   */
  async deadLetter(deliveryId: string): Promise<{ changed: boolean; callback: boolean }> {
    const row = this.byDeliveryId(deliveryId);
    if (!row || TERMINAL.has(row.status)) return { changed: false, callback: false };
    // A duplicate message gave up while another attempt still runs: that attempt decides.
    if (row.status === 'running' && (row.lease_until ?? 0) > Date.now())
      return { changed: false, callback: false };
    const error =
      row.error ?? JSON.stringify({ code: 'DEAD_LETTERED', detail: 'The run failed after every retry.' });
    return { changed: true, ...(await this.end(deliveryId, 'dead_lettered', null, error)) };
  }

  /** The callback job is on the queue. */
  async callbackQueued(deliveryId: string): Promise<void> {
    this.sql.exec(
      "UPDATE deliveries SET callback_state = 'queued', sweep_at = NULL WHERE delivery_id = ? AND callback_state = 'pending'",
      deliveryId,
    );
  }

  /** One more callback attempt (`toCallbackTicket` shapes it), or `null` when nothing is owed. */
  async callbackAttempt(deliveryId: string): Promise<DeliveryRow | null> {
    const row = this.byDeliveryId(deliveryId);
    if (!row?.callback_url || !row.callback_id) return null;
    if (row.callback_state !== 'pending' && row.callback_state !== 'queued') return null;
    this.sql.exec(
      "UPDATE deliveries SET callback_state = 'queued', callback_attempts = callback_attempts + 1, sweep_at = NULL WHERE delivery_id = ?",
      deliveryId,
    );
    return { ...row, callback_attempts: row.callback_attempts + 1 };
  }

  /** The callback was accepted (2xx) or gave up after every retry. */
  async callbackDone(deliveryId: string, state: 'delivered' | 'dead_lettered'): Promise<void> {
    this.sql.exec(
      "UPDATE deliveries SET callback_state = ? WHERE delivery_id = ? AND callback_state IN ('pending', 'queued')",
      state,
      deliveryId,
    );
  }

  /**
   * A delivery's record, or `null` when this tenant has none by that id. `nonce` (the
   * lookup's own webhook-id) is accepted once: a replayed lookup resolves to `replay`.
   */
  async lookup(deliveryId: string, nonce: string): Promise<LookupResult> {
    const now = Date.now();
    if (
      this.sql.exec('SELECT 1 AS hit FROM nonces WHERE nonce = ? AND expires_at > ?', nonce, now).toArray()
        .length > 0
    ) {
      return { replay: true };
    }
    this.sql.exec(
      'INSERT OR REPLACE INTO nonces (nonce, expires_at) VALUES (?, ?)',
      nonce,
      now + NONCE_TTL_MS,
    );
    await this.schedule();
    return { replay: false, row: this.byDeliveryId(deliveryId) ?? null };
  }

  /** Deletes expired records and nonces; re-sends enqueues and callbacks left pending. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec('DELETE FROM deliveries WHERE expires_at <= ?', now);
    this.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', now);
    const due = this.sql
      .exec<DeliveryRow>('SELECT * FROM deliveries WHERE sweep_at IS NOT NULL AND sweep_at <= ?', now)
      .toArray();
    const queues = { runs: this.env.RUNS, callbacks: this.env.CALLBACKS };
    for (const row of due) await sweep(this.sql, queues, row, now);
    await this.schedule();
  }

  private async end(
    deliveryId: string,
    status: 'succeeded' | 'failed' | 'dead_lettered',
    result: string | null,
    error: string | null,
  ): Promise<{ callback: boolean }> {
    const row = this.byDeliveryId(deliveryId);
    if (!row || TERMINAL.has(row.status)) return { callback: false };
    const now = Date.now();
    const callback = row.callback_url !== null;
    this.sql.exec(
      `UPDATE deliveries SET status = ?, result = ?, error = ?, message = NULL, lease_until = NULL, updated_at = ?,
         callback_id = ?, callback_state = ?, sweep_at = ? WHERE delivery_id = ?`,
      status,
      result,
      error,
      now,
      callback ? `msg_${crypto.randomUUID().replaceAll('-', '')}` : null,
      callback ? 'pending' : null,
      callback ? now + SWEEP_AFTER_MS : null,
      deliveryId,
    );
    if (callback) await this.schedule();
    return { callback };
  }

  /** Sets the alarm for the earliest expiry or sweep. */
  private async schedule(): Promise<void> {
    const next = nextWakeUp(this.sql);
    const current = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
    } else if (current === null || current > next) {
      await this.ctx.storage.setAlarm(next);
    }
  }

  private byWebhookId(webhookId: string): DeliveryRow | undefined {
    return this.sql
      .exec<DeliveryRow>('SELECT * FROM deliveries WHERE webhook_id = ?', webhookId)
      .toArray()[0];
  }

  private byDeliveryId(deliveryId: string): DeliveryRow | undefined {
    return this.sql
      .exec<DeliveryRow>('SELECT * FROM deliveries WHERE delivery_id = ?', deliveryId)
      .toArray()[0];
  }
}
