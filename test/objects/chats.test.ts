import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Admission } from '../../src/objects/tenant-state';
import { DEFAULT_LIMITS } from '../../src/tenant';
import { TENANTS } from '../fixtures/tenants';

const limits = { ...DEFAULT_LIMITS, ...TENANTS.acme.limits };

function freshTenant() {
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  const stub = env.TENANT_STATE.get(env.TENANT_STATE.idFromName(tenant));
  const open = (user: string, id: string) => stub.admit({ tenant, user, limits, chat: { id, open: true } });
  const find = (user: string, id: string) => stub.admit({ tenant, user, limits, chat: { id, open: false } });
  const rows = () =>
    runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads').one().n,
    );
  return { tenant, stub, open, find, rows };
}

const thread = (thread_id: string) => ({
  thread_id,
  name: 'Chat',
  assistant_id: 'asst_support',
  created_at: '2026-01-01T00:00:00Z',
});

function reservationOf(admission: Admission): string {
  if (!admission.ok || !admission.reservation)
    throw new Error(`no reservation: ${JSON.stringify(admission)}`);
  return admission.reservation;
}

describe('TenantState: chats', () => {
  it('reserves a thread for a chat that names none, under the thread quota', async () => {
    const { open } = freshTenant();
    const first = await open('u', 'c1');
    expect(first).toMatchObject({ ok: true, chatThread: null, reservation: expect.stringMatching(/^rsv_/) });
  });

  it('refuses a second first message while the chat’s thread is being created, reserving nothing more', async () => {
    const { open, rows } = freshTenant();
    reservationOf(await open('u', 'c1'));
    expect(await open('u', 'c1')).toMatchObject({ ok: false, reason: 'chat_busy' });
    expect(await rows()).toBe(1);
  });

  it('names the committed thread afterwards, reserving nothing', async () => {
    const { stub, open } = freshTenant();
    await stub.commitThread('u', reservationOf(await open('u', 'c1')), thread('thread_1'));
    const again = await open('u', 'c1');
    expect(again).toMatchObject({ ok: true, chatThread: 'thread_1' });
    expect(again.ok && again.reservation).toBeFalsy();
  });

  it('answers a lookup while the thread is being created with no thread, refusing nothing', async () => {
    const { open, find } = freshTenant();
    reservationOf(await open('u', 'c1'));
    expect(await find('u', 'c1')).toMatchObject({ ok: true, chatThread: null });
  });

  it('never reserves on a lookup', async () => {
    const { find, rows } = freshTenant();
    const found = await find('u', 'c1');
    expect(found).toMatchObject({ ok: true, chatThread: null });
    expect(found.ok && found.reservation).toBeFalsy();
    expect(await rows()).toBe(0);
  });

  it("keeps each user's chat ids apart", async () => {
    const { stub, open, find } = freshTenant();
    await stub.commitThread('alice', reservationOf(await open('alice', 'c1')), thread('thread_a'));
    expect(await find('bob', 'c1')).toMatchObject({ ok: true, chatThread: null });
    expect(await open('bob', 'c1')).toMatchObject({
      ok: true,
      chatThread: null,
      reservation: expect.any(String),
    });
  });

  it('unbinds a chat whose creation was given back, so the next message reserves again', async () => {
    const { stub, open } = freshTenant();
    await stub.releaseThread('u', reservationOf(await open('u', 'c1')));
    expect(await open('u', 'c1')).toMatchObject({
      ok: true,
      chatThread: null,
      reservation: expect.any(String),
    });
  });

  it('unbinds a chat whose thread was deleted', async () => {
    const { stub, open, find } = freshTenant();
    await stub.commitThread('u', reservationOf(await open('u', 'c1')), thread('thread_1'));
    await stub.removeThread('u', 'thread_1');
    expect(await find('u', 'c1')).toMatchObject({ ok: true, chatThread: null });
  });

  it('reserves again for a chat whose reservation expired (its Worker vanished)', async () => {
    const { stub, open } = freshTenant();
    const stale = reservationOf(await open('u', 'c1'));
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        'UPDATE threads SET reserved_until = ? WHERE thread_id = ?',
        Date.now() - 1,
        stale,
      );
    });
    const again = await open('u', 'c1');
    expect(again).toMatchObject({ ok: true, chatThread: null });
    expect(reservationOf(again)).not.toBe(stale);
  });

  it('refuses a new chat over the thread quota, binding nothing', async () => {
    const { tenant, stub, find } = freshTenant();
    const one = { ...limits, threads_per_user: 1 };
    await stub.admit({ tenant, user: 'u', limits: one, reserveThread: true });
    expect(
      await stub.admit({ tenant, user: 'u', limits: one, chat: { id: 'c1', open: true } }),
    ).toMatchObject({
      ok: false,
      reason: 'quota_user',
    });
    const bound = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM chats').one().n,
    );
    expect(bound).toBe(0);
    expect(await find('u', 'c1')).toMatchObject({ ok: true, chatThread: null });
  });
});
