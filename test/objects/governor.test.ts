import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/tenant';
import { TENANTS } from '../fixtures/tenants';

const limits = { ...DEFAULT_LIMITS, ...TENANTS.acme.limits };

/** Polls `read` until `done` holds or `ms` pass; returns the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 8_000): Promise<T> {
  const end = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

describe('UpstreamGovernor and the tenants’ permit pools', () => {
  it('gets back, within seconds, the permits a tenant leased and then left unused', async () => {
    const account = `acct-${crypto.randomUUID().slice(0, 8)}`;
    const governor = env.GOVERNOR.getByName(account);
    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const state = env.TENANT_STATE.getByName(tenant);
    const seen = { limit: 300, remaining: 300, resetAt: Date.now() + 50_000 };
    const upstream = { account, costly: true, seen };

    // One request: the pool leases a batch of 4 and uses 1; then the tenant goes idle.
    expect(await state.admit({ tenant, user: 'u', limits, upstream })).toMatchObject({
      ok: true,
      permit: true,
    });
    expect((await governor.snapshot()).used).toBe(4);
    const after = await until(
      () => governor.snapshot(),
      (s) => s.used < 4,
    );
    expect(after.used).toBe(1);

    // The pool does not spend what it gave back: the next request leases anew.
    expect(await state.admit({ tenant, user: 'u', limits, upstream })).toMatchObject({
      ok: true,
      permit: true,
    });
    expect((await governor.snapshot()).used).toBe(5);
  });
});
