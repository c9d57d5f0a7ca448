import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/tenant';
import { TENANTS } from '../fixtures/tenants';

const limits = { ...DEFAULT_LIMITS, ...TENANTS.acme.limits };

function freshTenant() {
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  return { tenant, stub: env.TENANT_STATE.get(env.TENANT_STATE.idFromName(tenant)) };
}

const thread = (thread_id: string) => ({
  thread_id,
  name: 'n',
  assistant_id: 'asst_support',
  created_at: '2026-01-01T00:00:00Z',
});

/** Every row of the object's threads table: committed threads and open reservations. */
const rows = (stub: ReturnType<typeof freshTenant>['stub']) =>
  runInDurableObject(stub, async (_, state) =>
    state.storage.sql
      .exec<{ thread_id: string; user: string }>('SELECT thread_id, user FROM threads ORDER BY thread_id')
      .toArray(),
  );

async function reserve(stub: ReturnType<typeof freshTenant>['stub'], tenant: string, user: string) {
  const admitted = await stub.admit({ tenant, user, limits, reserveThread: true });
  if (!admitted.ok || !admitted.reservation) throw new Error('no reservation');
  return admitted.reservation;
}

// An upstream that reissues an id the object already holds (its state was reset while the
// object's was not, e.g. `npm start` restarted with persisted Durable Objects).
describe('TenantState.commitThread with an id it already holds', () => {
  it('is idempotent for the same owner: the reservation goes, the thread stays one row', async () => {
    const { tenant, stub } = freshTenant();
    expect(await stub.commitThread('alice', await reserve(stub, tenant, 'alice'), thread('thread_1'))).toBe(
      'committed',
    );
    expect(await stub.commitThread('alice', await reserve(stub, tenant, 'alice'), thread('thread_1'))).toBe(
      'committed',
    );
    expect(await rows(stub)).toEqual([{ thread_id: 'thread_1', user: 'alice' }]);
  });

  it('refuses it for another owner without touching the owner or the table', async () => {
    const { tenant, stub } = freshTenant();
    await stub.commitThread('alice', await reserve(stub, tenant, 'alice'), thread('thread_1'));
    const reservation = await reserve(stub, tenant, 'bob');
    expect(await stub.commitThread('bob', reservation, thread('thread_1'))).toBe('taken');
    // Alice still owns it, Bob does not; Bob's reservation is left for the caller to give back.
    expect(
      (await stub.admit({ tenant, user: 'alice', limits, owns: { kind: 'thread', id: 'thread_1' } })).ok,
    ).toBe(true);
    expect(
      await stub.admit({ tenant, user: 'bob', limits, owns: { kind: 'thread', id: 'thread_1' } }),
    ).toMatchObject({ ok: false, reason: 'not_found' });
    expect(await rows(stub)).toEqual([
      { thread_id: reservation, user: 'bob' },
      { thread_id: 'thread_1', user: 'alice' },
    ]);
    await stub.releaseThread('bob', reservation);
    expect(await rows(stub)).toEqual([{ thread_id: 'thread_1', user: 'alice' }]);
  });
});
