// The object's token buckets (src/objects/rate-book.ts): the steps TenantState.admit takes
// for every admission (`first`) and for a read lease (`more`), which the scale simulation
// (read-leases-scale.test.ts) takes too.
import { describe, expect, it } from 'vitest';
import { RateBook } from '../../src/objects/rate-book';

const policies = {
  user: { capacity: 5, perMinute: 60 },
  tenant: { capacity: 8, perMinute: 60 },
};
const NOW = 1_000_000;

describe('RateBook', () => {
  it('first takes one token from both buckets', () => {
    const rates = new RateBook();
    const first = rates.first(policies, 'u1', NOW, false);
    expect(first.ok).toBe(true);
    const after = rates.look(policies, 'u1', NOW).rate;
    expect(after.user.remaining).toBe(3); // 5, one taken, one more looked at
    expect(after.tenant.remaining).toBe(6);
  });

  it('a blocked user takes nothing, not even a token of the tenant', () => {
    const rates = new RateBook();
    const first = rates.first(policies, 'u1', NOW, true);
    expect(first).toMatchObject({ ok: false, reason: 'blocked' });
    // A look is for one token: 8 - 1 left if nothing was taken (6 had the block taken one).
    expect(rates.look(policies, 'u2', NOW).rate.tenant.remaining).toBe(7);
    expect(rates.look(policies, 'u1', NOW).rate.user.remaining).toBe(4);
  });

  it('a user out of tokens is refused with a Retry-After, and the tenant keeps its tokens', () => {
    const rates = new RateBook();
    expect(rates.more(policies, 'u1', NOW, 5).taken).toBe(5);
    const refused = rates.first(policies, 'u1', NOW, false);
    expect(refused).toMatchObject({ ok: false, reason: 'rate_user', retryAfter: 1 });
    // The tenant's bucket lost only the 5 tokens u1 took: 3 are left for another user.
    expect(rates.more(policies, 'u2', NOW, 100).taken).toBe(3);
  });

  it('more takes what both buckets hold, at most the extra asked, and nothing when one is empty', () => {
    const rates = new RateBook();
    expect(rates.more(policies, 'u1', NOW, 0)).toEqual({ taken: 0 });
    expect(rates.more(policies, 'u1', NOW, 2)).toMatchObject({ taken: 2, rate: { user: { remaining: 3 } } });
    expect(rates.more(policies, 'u1', NOW, 10)).toMatchObject({ taken: 3 }); // the user's bucket
    expect(rates.more(policies, 'u1', NOW, 1)).toEqual({ taken: 0 });
    // A token a second: one second later, one more.
    expect(rates.more(policies, 'u1', NOW + 1000, 10).taken).toBe(1);
  });

  it('refunded tokens are the user’s and the tenant’s again, never above capacity', () => {
    const rates = new RateBook();
    expect(rates.more(policies, 'u1', NOW, 5).taken).toBe(5);
    rates.refund('u1', 2);
    expect(rates.more(policies, 'u1', NOW, 10).taken).toBe(2);
    rates.refund('u1', 50);
    expect(rates.more(policies, 'u1', NOW, 10).taken).toBe(5);
  });
});
