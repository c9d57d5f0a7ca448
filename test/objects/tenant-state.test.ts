import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/tenant';
import { TENANTS } from '../fixtures/tenants';

const limits = { ...DEFAULT_LIMITS, ...TENANTS.acme.limits, concurrent_streams: 1 };
const baseLimits = limits;

function freshTenant() {
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  return { tenant, stub: env.TENANT_STATE.get(env.TENANT_STATE.idFromName(tenant)) };
}

describe('TenantState', () => {
  it('expires the lease of a Worker that vanished, so the slot is not lost forever', async () => {
    const { tenant, stub } = freshTenant();
    // A Worker takes the tenant's only stream slot and dies without releasing it.
    const taken = await stub.admit({ tenant, user: 'u', limits, lease: { ttlMs: 50 } });
    expect(taken).toMatchObject({ ok: true, lease: expect.stringMatching(/^lease_/) });
    const blocked = await stub.admit({ tenant, user: 'u', limits, lease: { ttlMs: 50 } });
    expect(blocked).toMatchObject({ ok: false, reason: 'streams' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The alarm (run now, unless the runtime already did) deletes the dead lease.
    await runDurableObjectAlarm(stub);
    const left = await runInDurableObject(
      stub,
      async (_, state) => (await state.storage.list({ prefix: 'lease:' })).size,
    );
    expect(left).toBe(0);
    const again = await stub.admit({ tenant, user: 'u', limits, lease: { ttlMs: 60_000 } });
    expect(again).toMatchObject({ ok: true, lease: expect.any(String) });
  });

  it('releases a thread reservation nobody committed (the creating Worker died)', async () => {
    const { tenant, stub } = freshTenant();
    const one = { ...limits, threads_per_user: 1 };
    const first = await stub.admit({ tenant, user: 'u', limits: one, reserveThread: true });
    if (!first.ok || !first.reservation) throw new Error('no reservation');
    expect(await stub.admit({ tenant, user: 'u', limits: one, reserveThread: true })).toMatchObject({
      ok: false,
      reason: 'quota_user',
    });
    // Run early, the alarm frees nothing that has not expired yet.
    await runDurableObjectAlarm(stub);
    expect(await stub.admit({ tenant, user: 'u', limits: one, reserveThread: true })).toMatchObject({
      ok: false,
    });
    // The Worker never came back: move the reservation's deadline into the past, the way time would.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        'UPDATE threads SET reserved_until = ? WHERE thread_id = ?',
        Date.now() - 1,
        first.reservation,
      );
      return state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(stub);
    const left = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads').one().n,
    );
    expect(left).toBe(0);
    expect(await stub.admit({ tenant, user: 'u', limits: one, reserveThread: true })).toMatchObject({
      ok: true,
    });
  });

  it('answers ownership for its own users only', async () => {
    const { tenant, stub } = freshTenant();
    const admitted = await stub.admit({ tenant, user: 'alice', limits, reserveThread: true });
    if (!admitted.ok || !admitted.reservation) throw new Error('no reservation');
    await stub.commitThread('alice', admitted.reservation, {
      thread_id: 'thread_1',
      name: 'n',
      assistant_id: 'asst_support',
      created_at: '2026-01-01T00:00:00Z',
    });
    const owns = { kind: 'thread' as const, id: 'thread_1' };
    expect((await stub.admit({ tenant, user: 'alice', limits, owns })).ok).toBe(true);
    expect(await stub.admit({ tenant, user: 'bob', limits, owns })).toMatchObject({
      ok: false,
      reason: 'not_found',
    });
    // A reservation is never an owned thread.
    expect(
      await stub.admit({ tenant, user: 'alice', limits, owns: { kind: 'thread', id: admitted.reservation } }),
    ).toMatchObject({ ok: false, reason: 'not_found' });
  });

  it('says whether removeThread removed the thread: only the first of two removals did', async () => {
    const { tenant, stub } = freshTenant();
    const admitted = await stub.admit({ tenant, user: 'alice', limits, reserveThread: true });
    if (!admitted.ok || !admitted.reservation) throw new Error('no reservation');
    const thread = {
      thread_id: 'thread_1',
      name: 'n',
      assistant_id: 'asst_support',
      created_at: '2026-01-01T00:00:00Z',
    };
    await stub.commitThread('alice', admitted.reservation, thread);
    // A creation still in flight: its reservation holds quota, and no delete may free it.
    const pending = await stub.admit({ tenant, user: 'alice', limits, reserveThread: true });
    if (!pending.ok || !pending.reservation) throw new Error('no second reservation');
    expect(await stub.threadsHeld('alice')).toBe(2);
    // Another user's id, and a reservation, are not removed by it.
    expect(await stub.removeThread('bob', 'thread_1')).toBe(false);
    expect(await stub.removeThread('alice', pending.reservation)).toBe(false);
    expect(await stub.threadsHeld('alice')).toBe(2);
    expect(await stub.removeThread('alice', 'thread_1')).toBe(true);
    expect(await stub.removeThread('alice', 'thread_1')).toBe(false);
    expect(await stub.threadsHeld('alice')).toBe(1);
  });

  it('refuses a blocked user before anything is taken, and lets them back in', async () => {
    const { tenant, stub } = freshTenant();
    // A bucket that refills too slowly to hide a token taken.
    const limits = { ...baseLimits, requests_per_minute: 1, burst: 5 };
    const before = await stub.admit({ tenant, user: 'u', limits });
    if (!before.ok) throw new Error('not admitted');
    expect(await stub.block('u')).toBe(true);
    expect(await stub.block('u')).toBe(false);
    const refused = await stub.admit({
      tenant,
      user: 'u',
      limits,
      reserveThread: true,
      lease: { ttlMs: 60_000 },
    });
    expect(refused).toMatchObject({ ok: false, reason: 'blocked' });
    expect(await stub.blocked()).toEqual([{ user: 'u', blocked_at: expect.any(String) }]);
    // Another user of the tenant is not affected.
    expect(await stub.admit({ tenant, user: 'v', limits })).toMatchObject({ ok: true });
    expect(await stub.unblock('u')).toBe(true);
    const after = await stub.admit({ tenant, user: 'u', limits, reserveThread: true });
    // The refusal took no token of the user's bucket and no thread of quota.
    expect(after).toMatchObject({ ok: true, reservation: expect.any(String) });
    if (after.ok) expect(after.rate.user.remaining).toBe(before.rate.user.remaining - 1);
  });

  it('keeps a block when the object restarts', async () => {
    const { tenant, stub } = freshTenant();
    await stub.block('u');
    await evictDurableObject(stub);
    expect(await stub.admit({ tenant, user: 'u', limits })).toMatchObject({ ok: false, reason: 'blocked' });
  });
});
