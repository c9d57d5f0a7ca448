import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { AcceptInput } from '../../src/objects/deliveries';
import { RETENTION_MS, toView } from '../../src/webhooks/store';

/**
 * The deliveries object on its own, through its RPC methods. Tenant names are unique per
 * test and unknown to the configuration: anything the object sends to the queue is
 * consumed and failed with CONFIG_INVALID without reaching the upstream.
 */
const unique = () => crypto.randomUUID().replaceAll('-', '').slice(0, 10);

function store() {
  const tenant = `objects-${unique()}`;
  const stub = env.DELIVERIES.get(env.DELIVERIES.idFromName(tenant));
  const input = (webhookId = `msg_${unique()}`, callback_url: string | null = null): AcceptInput => ({
    tenant,
    webhook_id: webhookId,
    body_hash: 'a'.repeat(64),
    request: { subject: 'automation', message: 'hi', thread_id: null, assistant_id: null, callback_url },
  });
  const sql = <T extends Record<string, SqlStorageValue>>(query: string, ...args: SqlStorageValue[]) =>
    runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<T>(query, ...args).toArray());
  return { tenant, stub, input, sql };
}

describe('Deliveries: idempotency', () => {
  it('records a webhook-id once and answers repeats with the same delivery', async () => {
    const { stub, input } = store();
    const first = await stub.accept(input('msg_1'));
    expect(first).toMatchObject({ duplicate: false, enqueue: true });
    await stub.enqueued(first.delivery_id);
    expect(await stub.accept(input('msg_1'))).toEqual({
      delivery_id: first.delivery_id,
      duplicate: true,
      enqueue: false,
    });
    expect((await stub.accept(input('msg_2'))).delivery_id).not.toBe(first.delivery_id);
  });

  it('lets exactly one of ten concurrent accepts enqueue', async () => {
    const { stub, input } = store();
    const results = await Promise.all(Array.from({ length: 10 }, () => stub.accept(input('msg_same'))));
    expect(new Set(results.map((r) => r.delivery_id)).size).toBe(1);
    expect(results.filter((r) => r.enqueue)).toHaveLength(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it('hands a failed or unconfirmed enqueue to the next repeat', async () => {
    const { stub, input, sql } = store();
    const { delivery_id } = await stub.accept(input('msg_f'));
    // Still pending (the first request may be sending): a repeat does not enqueue.
    expect((await stub.accept(input('msg_f'))).enqueue).toBe(false);
    await stub.enqueueFailed(delivery_id);
    expect(await stub.accept(input('msg_f'))).toEqual({ delivery_id, duplicate: true, enqueue: true });
    // Claimed again, then never confirmed: after 30 s the next repeat takes it over.
    expect((await stub.accept(input('msg_f'))).enqueue).toBe(false);
    await sql('UPDATE deliveries SET claimed_at = claimed_at - 31000 WHERE delivery_id = ?', delivery_id);
    expect((await stub.accept(input('msg_f'))).enqueue).toBe(true);
  });
});

describe('Deliveries: lifecycle', () => {
  it('goes queued → running → succeeded, leases attempts and keeps the thread', async () => {
    const { stub, input, sql } = store();
    const { delivery_id } = await stub.accept(input(undefined, 'https://hooks.acme.example/__callbacks/x'));
    const begun = await stub.begin(delivery_id, 60_000);
    expect(begun).toMatchObject({
      action: 'run',
      ticket: { delivery_id, attempt: 1, request: { message: 'hi' } },
    });
    // A redelivered copy while the lease holds waits.
    expect(await stub.begin(delivery_id, 60_000)).toMatchObject({ action: 'busy' });
    await stub.setThread(delivery_id, 'thread_9');
    await stub.retryLater(delivery_id, {
      code: 'UPSTREAM_UNAVAILABLE',
      detail: 'The upstream is unavailable.',
    });
    expect(await stub.begin(delivery_id, 60_000)).toMatchObject({
      action: 'run',
      ticket: { attempt: 2, request: { thread_id: 'thread_9' } },
    });
    const result = { run_id: 'run_1', content: 'done', tool_calls: [{ name: 'lookup_order' }] };
    expect(await stub.finish(delivery_id, { status: 'succeeded', result })).toEqual({ callback: true });
    expect(await stub.begin(delivery_id, 60_000)).toEqual({ action: 'done', callback: true });
    // An ended delivery keeps its outcome: no dead letter, no second finish.
    expect(await stub.deadLetter(delivery_id)).toEqual({ changed: false, callback: false });
    expect(await stub.finish(delivery_id, { status: 'failed', error: { code: 'X', detail: 'x' } })).toEqual({
      callback: false,
    });

    const [row] = await sql<{ message: string | null }>(
      'SELECT message FROM deliveries WHERE delivery_id = ?',
      delivery_id,
    );
    expect(row?.message).toBeNull();
    const lookup = await stub.lookup(delivery_id, `msg_${unique()}`);
    if (lookup.replay || !lookup.row) throw new Error('expected a row');
    expect(toView(lookup.row)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      thread_id: 'thread_9',
      result,
      callback: { status: 'pending', attempts: 0 },
    });
    expect(toView(lookup.row).error).toBeUndefined();
  });

  it('counts callback attempts and records the end of the series', async () => {
    const { stub, input } = store();
    const { delivery_id } = await stub.accept(input(undefined, 'https://hooks.acme.example/__callbacks/y'));
    await stub.begin(delivery_id, 60_000);
    await stub.finish(delivery_id, { status: 'failed', error: { code: 'NOT_FOUND', detail: 'Not found.' } });
    const first = await stub.callbackAttempt(delivery_id);
    const second = await stub.callbackAttempt(delivery_id);
    expect([first?.callback_attempts, second?.callback_attempts]).toEqual([1, 2]);
    expect(second?.callback_id).toBe(first?.callback_id);
    await stub.callbackDone(delivery_id, 'delivered');
    expect(await stub.callbackAttempt(delivery_id)).toBeNull();
  });

  it('dead-letters an unfinished delivery with its last error', async () => {
    const { stub, input } = store();
    const { delivery_id } = await stub.accept(input());
    await stub.begin(delivery_id, 60_000);
    await stub.retryLater(delivery_id, {
      code: 'UPSTREAM_TIMEOUT',
      detail: 'The upstream did not answer in time.',
    });
    expect(await stub.deadLetter(delivery_id)).toEqual({ changed: true, callback: false });
    const lookup = await stub.lookup(delivery_id, `msg_${unique()}`);
    if (lookup.replay || !lookup.row) throw new Error('expected a row');
    expect(toView(lookup.row)).toMatchObject({
      status: 'dead_lettered',
      attempts: 1,
      error: { code: 'UPSTREAM_TIMEOUT' },
    });
  });

  it('accepts a lookup id once', async () => {
    const { stub, input } = store();
    const { delivery_id } = await stub.accept(input());
    expect((await stub.lookup(delivery_id, 'msg_lookup')).replay).toBe(false);
    expect(await stub.lookup(delivery_id, 'msg_lookup')).toEqual({ replay: true });
    expect(await stub.lookup('dlv_nope', 'msg_other')).toEqual({ replay: false, row: null });
  });
});

describe('Deliveries: alarm', () => {
  it('forgets records after the 72 h retention', async () => {
    const { stub, input, sql } = store();
    const { delivery_id } = await stub.accept(input('msg_old'));
    await stub.enqueued(delivery_id);
    const [row] = await sql<{ created_at: number; expires_at: number }>(
      'SELECT created_at, expires_at FROM deliveries',
    );
    expect((row?.expires_at ?? 0) - (row?.created_at ?? 0)).toBe(RETENTION_MS);
    await sql('UPDATE deliveries SET expires_at = ?', Date.now() - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await sql('SELECT * FROM deliveries')).toEqual([]);
    // The webhook-id is new again.
    expect((await stub.accept(input('msg_old'))).duplicate).toBe(false);
  });

  it('re-queues a run whose attempt vanished, once its lease has ended', async () => {
    const { stub, input, sql } = store();
    const { delivery_id } = await stub.accept(input());
    await stub.enqueued(delivery_id);
    expect(await stub.begin(delivery_id, 60_000)).toMatchObject({ action: 'run' });
    // A dead-lettered duplicate does not end a delivery another attempt is running.
    expect(await stub.deadLetter(delivery_id)).toEqual({ changed: false, callback: false });
    await sql(
      'UPDATE deliveries SET lease_until = ?, sweep_at = ? WHERE delivery_id = ?',
      Date.now() - 1,
      Date.now() - 1,
      delivery_id,
    );
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // Sent again: the consumer runs it (and fails it, the tenant being unknown to the config).
    const deadline = Date.now() + 5000;
    let row: { status: string; attempts: number } | undefined;
    while (Date.now() < deadline) {
      [row] = await sql<{ status: string; attempts: number }>('SELECT status, attempts FROM deliveries');
      if (row?.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(row).toEqual({ status: 'failed', attempts: 2 });
  });

  it('re-sends an enqueue nobody confirmed', async () => {
    const { stub, input, sql } = store();
    const { delivery_id } = await stub.accept(input());
    await sql('UPDATE deliveries SET sweep_at = ? WHERE delivery_id = ?', Date.now() - 1, delivery_id);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const [row] = await sql<{ enqueue: string }>(
      'SELECT enqueue FROM deliveries WHERE delivery_id = ?',
      delivery_id,
    );
    expect(row?.enqueue).toBe('sent');
    // The alarm stays set for the retention expiry.
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
