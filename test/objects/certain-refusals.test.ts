import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/tenant';
import { TENANTS } from '../fixtures/tenants';

const limits = { ...DEFAULT_LIMITS, ...TENANTS.acme.limits };
const lease = { ttlMs: 60_000 };
type Owns = { kind: 'thread'; id: string };

/**
 * A tenant with one thread of `asst_a` (now off the allow-list) and one of `asst_b`, and
 * an account whose governor grants (`open`) or, after an upstream 429, refuses (`busy`).
 */
async function setup() {
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  const state = env.TENANT_STATE.getByName(tenant);
  const threads: [string, string][] = [
    ['thread_a', 'asst_a'],
    ['thread_b', 'asst_b'],
  ];
  for (const [thread_id, assistant_id] of threads) {
    const reserved = await state.admit({ tenant, user: 'u', limits, reserveThread: true });
    if (!reserved.ok || !reserved.reservation) throw new Error('no reservation');
    await state.commitThread('u', reserved.reservation, {
      thread_id,
      name: null,
      assistant_id,
      created_at: new Date().toISOString(),
    });
  }
  const seen = { limit: 300, remaining: 300, resetAt: Date.now() + 50_000 };
  const account = () => {
    const name = `acct-${crypto.randomUUID().slice(0, 8)}`;
    return { governor: env.GOVERNOR.getByName(name), upstream: { account: name, costly: true, seen } };
  };
  const open = account();
  const busy = account();
  await busy.governor.rateLimited(60);
  const streams = async () => {
    const usage = await state.admit({ tenant, user: 'u', limits, want: 'usage' });
    return usage.ok ? usage.usage?.streams : undefined;
  };
  return { tenant, state, open, busy, streams };
}

describe('a refusal no upstream permit could lift', () => {
  it('is the run’s 400 on a revoked assistant’s thread, not the busy upstream’s 503, and takes no permit', async () => {
    const { tenant, state, open, busy, streams } = await setup();
    const run = { tenant, user: 'u', limits, lease, assistants: ['asst_b'] };
    const owns: Owns = { kind: 'thread', id: 'thread_a' };
    // The governor gives no permit: still the certain refusal, not upstream_budget.
    expect(await state.admit({ ...run, owns, upstream: busy.upstream })).toMatchObject({
      ok: false,
      reason: 'assistant_revoked',
    });
    // A governor that would grant is not asked (the tenant's pool is empty): no permit leased, none held.
    expect(await state.admit({ ...run, owns, upstream: open.upstream })).toMatchObject({
      ok: false,
      reason: 'assistant_revoked',
    });
    expect((await open.governor.snapshot()).used).toBe(0);
    expect(await streams()).toBe(0);
    // The busy governor still refuses a run it would admit: the order changed, not the gate.
    const offered: Owns = { kind: 'thread', id: 'thread_b' };
    expect(await state.admit({ ...run, owns: offered, upstream: busy.upstream })).toMatchObject({
      ok: false,
      reason: 'upstream_budget',
    });
  });

  it('is an Idempotency-Key bound to another thread (409), before the permit and taking none', async () => {
    const { tenant, state, open, busy, streams } = await setup();
    const run = { tenant, user: 'u', limits, lease, assistants: ['asst_a', 'asst_b'] };
    // The key's run on thread_a (with no permit asked, so the tenant's pool holds none).
    const first = await state.admit({
      ...run,
      owns: { kind: 'thread', id: 'thread_a' },
      runKey: { key: 'k1', threadId: 'thread_a' },
    });
    if (!first.ok || !first.lease) throw new Error('the first run was not admitted');
    await state.releaseLease(first.lease, []);
    const other: Owns = { kind: 'thread', id: 'thread_b' };
    const runKey = { key: 'k1', threadId: 'thread_b' };
    expect(await state.admit({ ...run, owns: other, runKey, upstream: busy.upstream })).toMatchObject({
      ok: false,
      reason: 'key_conflict',
    });
    expect(await state.admit({ ...run, owns: other, runKey, upstream: open.upstream })).toMatchObject({
      ok: false,
      reason: 'key_conflict',
    });
    expect((await open.governor.snapshot()).used).toBe(0);
    expect(await streams()).toBe(0);
  });
});
