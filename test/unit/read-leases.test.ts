import { describe, expect, it } from 'vitest';
import { Owners } from '../../src/limits/owners';
import {
  type LeaseAnswer,
  leaseCap,
  MAX_REFUSAL_QUIET_MS,
  READ_LEASE_MS,
  ReadLeases,
  refusalQuietMs,
} from '../../src/limits/read-leases';

const rate = { user: { remaining: 10, resetIn: 5 }, tenant: { remaining: 100, resetIn: 5 } };
const answer = (granted: number, permits = granted): LeaseAnswer => ({ granted, permits, rate });

function clocked() {
  let now = 1_000_000;
  const leases = new ReadLeases(() => now);
  return { leases, advance: (ms: number) => (now += ms) };
}

describe('ReadLeases', () => {
  it('remembers a refusal for its quiet time only, per key', () => {
    const { leases, advance } = clocked();
    expect(leases.refused('k')).toBeUndefined();
    leases.refuse('k', 'rate', 100);
    expect(leases.refused('k')).toBe('rate');
    expect(leases.refused('j')).toBeUndefined();
    advance(99);
    expect(leases.refused('k')).toBe('rate');
    advance(1);
    expect(leases.refused('k')).toBeUndefined();
  });

  it('quiets a refusal about one token’s refill time, at most 250 ms', () => {
    expect(refusalQuietMs(600)).toBe(100); // 10 a second
    expect(refusalQuietMs(60)).toBe(MAX_REFUSAL_QUIET_MS);
    expect(refusalQuietMs(60_000)).toBe(1);
  });

  it('has nothing to give before a lease was granted, and asks for one read for a new user', () => {
    const { leases } = clocked();
    expect(leases.take('k', 16)).toBeUndefined();
    expect(leases.want('k', 16)).toBe(1);
  });

  it('gives the caller one of a grant, then spends the rest, each with a permit while permits last', () => {
    const { leases } = clocked();
    expect(leases.grant('k', answer(3, 2), true)).toMatchObject({ permit: true });
    expect(leases.take('k', 16)).toMatchObject({ permit: true });
    expect(leases.take('k', 16)).toMatchObject({ permit: false });
    expect(leases.take('k', 16)).toBeUndefined();
  });

  it('shows the object’s remaining rate plus what the lease still holds', () => {
    const { leases } = clocked();
    const read = leases.grant('k', answer(4), true);
    expect(read.rate.user.remaining).toBe(13);
    expect(read.rate.tenant.remaining).toBe(103);
  });

  it('drops what a lease holds once it expires', () => {
    const { leases, advance } = clocked();
    leases.grant('k', answer(5), true);
    advance(READ_LEASE_MS);
    expect(leases.take('k', 16)).toBeUndefined();
  });

  it('hands an expired lease’s leftovers back once, and a live one’s never', () => {
    const { leases, advance } = clocked();
    leases.grant('k', { granted: 6, permits: 4, window: 'w1', rate }, true); // the caller's read takes one of each
    leases.take('k', 16);
    expect(leases.leftover('k')).toBeUndefined();
    advance(READ_LEASE_MS);
    expect(leases.leftover('k')).toEqual({ tokens: 4, permits: 2, window: 'w1' });
    expect(leases.leftover('k')).toBeUndefined();
    expect(leases.take('k', 16)).toBeUndefined();
    // Permits of no known window (the governor did not answer) are not handed back; tokens are.
    leases.grant('j', answer(3, 0), true);
    advance(READ_LEASE_MS);
    expect(leases.leftover('j')).toEqual({ tokens: 2, permits: 0 });
    expect(leases.leftover('none')).toBeUndefined();
  });

  it('carries a live lease’s permits into a refill of the same window only', () => {
    const { leases } = clocked();
    leases.grant('k', { granted: 4, permits: 4, window: 'w1', rate }, true); // 3 tokens, 3 permits left
    leases.grant('k', { granted: 2, permits: 2, window: 'w2', rate }, false);
    const permits = Array.from({ length: 5 }, () => leases.take('k', 16)?.permit);
    expect(permits).toEqual([true, true, false, false, false]);
    expect(leases.take('k', 16)).toBeUndefined();
  });

  it('asks for a background refill once half of the last grant is spent, and only once while it is in flight', () => {
    const { leases } = clocked();
    leases.grant('k', answer(8), true); // 7 left
    const first = [1, 2, 3].map(() => leases.take('k', 16)?.refill);
    expect(first).toEqual([undefined, undefined, expect.any(Number)]); // 4 left: due
    leases.track('k', new Promise(() => undefined));
    expect(leases.take('k', 16)?.refill).toBeUndefined();
  });

  it('sizes a refill by the rate this isolate sees, within the cap', () => {
    const { leases, advance } = clocked();
    leases.grant('k', answer(1), false);
    advance(10_000); // one read in ten seconds: one at a time
    leases.take('k', 64);
    expect(leases.want('k', 64)).toBe(1);
    leases.grant('k', answer(64), false);
    for (let i = 0; i < 40; i++) leases.take('k', 64);
    advance(100); // 400 a second
    expect(leases.want('k', 64)).toBe(64);
    expect(leases.want('k', 5)).toBe(5);
  });

  it('keeps a refused lease quiet for a while, and forgets a dropped one', () => {
    const { leases, advance } = clocked();
    leases.grant('k', answer(10), true);
    leases.quiet('k', 1);
    for (let i = 0; i < 6; i++) expect(leases.take('k', 16)?.refill).toBeUndefined();
    advance(999);
    expect(leases.take('k', 16)?.refill).toBeUndefined();
    advance(1);
    expect(leases.take('k', 16)?.refill).toEqual(expect.any(Number));
    leases.drop('k');
    expect(leases.take('k', 16)).toBeUndefined();
  });

  it('begins a read from the lease only when the owner is confirmed, else from a fresh refusal, else with an ask', () => {
    const { leases, advance } = clocked();
    expect(leases.begin('k', 16, true)).toEqual({ next: 'ask', want: 1, returned: undefined });
    leases.grant('k', answer(3), true);
    // Not confirmed as the owner here: asked, though the lease holds tokens (none spent).
    expect(leases.begin('k', 16, false)).toMatchObject({ next: 'ask' });
    expect(leases.begin('k', 16, true)).toMatchObject({ next: 'local', read: { permit: true } });
    expect(leases.begin('k', 16, true)).toMatchObject({ next: 'local' });
    leases.refuse('k', 'rate', 100);
    expect(leases.begin('k', 16, true)).toEqual({ next: 'refused', refusal: 'rate' });
    advance(3_000);
    // The refusal is stale and the lease expired holding nothing: an ask with no leftovers.
    expect(leases.begin('k', 16, true)).toMatchObject({ next: 'ask', returned: undefined });
  });

  it('begins an ask with what the expired lease held, handed back once', () => {
    const { leases, advance } = clocked();
    leases.grant('k', { ...answer(4, 2), window: 'w1' }, true);
    advance(READ_LEASE_MS);
    expect(leases.begin('k', 16, true)).toMatchObject({
      next: 'ask',
      returned: { tokens: 3, permits: 1, window: 'w1' },
    });
    expect(leases.begin('k', 16, true)).toMatchObject({ next: 'ask', returned: undefined });
  });

  it('takes a refused ask’s effect: a block drops the lease, a quiet time is remembered, a landed lease is spent', () => {
    const { leases } = clocked();
    leases.grant('k', answer(3), true);
    const blocked = { drop: true, quietMs: 100, spendLanded: false };
    expect(leases.askRefused('k', 16, 'blocked', blocked)).toBeUndefined();
    expect(leases.begin('k', 16, true)).toEqual({ next: 'refused', refusal: 'blocked' });
    expect(leases.take('k', 16)).toBeUndefined();

    leases.grant('j', answer(2), true);
    const rate = { drop: false, quietMs: 0, spendLanded: true };
    expect(leases.askRefused('j', 16, 'rate', rate)).toMatchObject({ permit: true });
    expect(leases.askRefused('j', 16, 'rate', rate)).toBeUndefined();
    expect(leases.refused('j')).toBeUndefined();
  });

  it('drops a lease whose refill found the user blocked, and quiets one refused otherwise', () => {
    const { leases, advance } = clocked();
    leases.grant('k', answer(4), true);
    leases.refillRefused('k', { drop: false }, 2);
    leases.take('k', 16);
    advance(1_999);
    // Quiet for the Retry-After (2 s): no refill is due though the lease is half spent.
    expect(leases.take('k', 16)?.refill).toBeUndefined();
    leases.refillRefused('k', { drop: true });
    expect(leases.take('k', 16)).toBeUndefined();
  });

  it('keeps each user’s lease apart', () => {
    const { leases } = clocked();
    leases.grant('a', answer(3), true);
    expect(leases.take('b', 16)).toBeUndefined();
    expect(leases.take('a', 16)).toBeDefined();
  });

  it('caps a lease at a quarter of the burst, at least one', () => {
    expect(leaseCap(200)).toBe(50);
    expect(leaseCap(3)).toBe(1);
  });
});

describe('Owners', () => {
  it('remembers an owner per tenant, user and kind, and forgets on delete', () => {
    const owners = new Owners();
    owners.add('t', 'alice', 'thread', 'th1');
    expect(owners.has('t', 'alice', 'thread', 'th1')).toBe(true);
    expect(owners.has('t', 'bob', 'thread', 'th1')).toBe(false);
    expect(owners.has('t2', 'alice', 'thread', 'th1')).toBe(false);
    expect(owners.has('t', 'alice', 'file', 'th1')).toBe(false);
    owners.forget('t', 'alice', 'thread', 'th1');
    expect(owners.has('t', 'alice', 'thread', 'th1')).toBe(false);
  });
});
