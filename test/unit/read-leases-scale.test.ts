// The README's Scale figures for reads, checked by simulation: many users reading at a
// steady rate through one or more isolates, each with its own `ReadLeases` (the real
// class), against one exact object (its real `RateBook`) that answers every ask after a
// round trip. Each read takes the steps services/local-reads.ts
// `admitRead` takes (`ReadLeases.begin`, then `grant` or `askRefused`; a background
// refill's `grant` or `refillRefused`): only their round trips are made here, in virtual
// time (no timer, no wall clock). The object's part takes the same `RateBook` steps as
// `TenantState.admit` (`refund`, `first`, `more`), without the governor and storage.
import { describe, expect, it } from 'vitest';
import type { BucketPolicy } from '../../src/limits/bucket';
import { type LeaseAnswer, leaseCap, ReadLeases, refusalQuietMs } from '../../src/limits/read-leases';
import { RateBook } from '../../src/objects/rate-book';
import type { LeaseLeftover } from '../../src/objects/tenant-schema';

interface Scenario {
  users: number;
  /** Reads a second per user, evenly spaced (each user offset a little). */
  perSecond: number;
  /** Isolates a user's reads land on, in turn (1: all on one). */
  isolates: number;
  seconds: number;
  /** The user's bucket: burst and refill per minute. */
  policy: BucketPolicy;
  /** The object's round trip, ms. */
  rttMs: number;
}

interface Outcome {
  /** Calls to the object per second of simulated time (foreground and background asks). */
  asksPerSecond: number;
  admitted: number;
  refused: number;
  /** The most any user was admitted, and what their bucket allowed over the run. */
  mostAdmitted: number;
  allowed: number;
}

/** Events in time order, ties in the order they were scheduled (a binary heap). */
class EventQueue {
  readonly #heap: { at: number; seq: number; run: () => void }[] = [];
  #seq = 0;

  push(at: number, run: () => void): void {
    const heap = this.#heap;
    heap.push({ at, seq: this.#seq++, run });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  pop(): { at: number; run: () => void } | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.#before(l, m)) m = l;
      if (r < heap.length && this.#before(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return top;
  }

  #before(i: number, j: number): boolean {
    const a = this.#heap[i];
    const b = this.#heap[j];
    return a !== undefined && b !== undefined && (a.at < b.at || (a.at === b.at && a.seq < b.seq));
  }

  #swap(i: number, j: number): void {
    const heap = this.#heap;
    const a = heap[i];
    const b = heap[j];
    if (a === undefined || b === undefined) return;
    heap[i] = b;
    heap[j] = a;
  }
}

const rate = { user: { remaining: 0, resetIn: 0 }, tenant: { remaining: 0, resetIn: 0 } };

function simulate(s: Scenario): Outcome {
  let now = 0;
  const events = new EventQueue();
  const at = (time: number, run: () => void) => events.push(time, run);

  // The object's buckets, taken the way TenantState.admit takes them for a read (the
  // leftovers back, the caller's token, then the lease's more). The tenant's own bucket is
  // out of the way here, and there is no governor: a permit per token.
  const rates = new RateBook();
  const policies = { user: s.policy, tenant: { capacity: 1e9, perMinute: 1e12 } };
  let asks = 0;
  const ask = (user: number, want: number, returned?: LeaseLeftover): LeaseAnswer | null => {
    asks += 1;
    const key = String(user);
    if (returned) rates.refund(key, returned.tokens);
    const first = rates.first(policies, key, now, false);
    if (!first.ok) return null;
    const granted = 1 + rates.more(policies, key, now, want - 1).taken;
    return { granted, permits: granted, rate };
  };

  // The isolates: one ReadLeases each.
  const isolates = Array.from({ length: s.isolates }, () => new ReadLeases(() => now));
  const cap = leaseCap(s.policy.capacity);
  const admittedBy = new Map<number, number>();
  let refused = 0;
  const admit = (user: number) => admittedBy.set(user, (admittedBy.get(user) ?? 0) + 1);

  // The service's steps (ReadLeases.begin, grant, askRefused, refillRefused), with its
  // round trips made in virtual time. Every user here owns what they read.
  const read = (user: number, leases: ReadLeases) => {
    const key = String(user);
    const step = leases.begin(key, cap, true);
    if (step.next === 'refused') {
      refused += 1;
      return;
    }
    if (step.next === 'local') {
      admit(user);
      const want = step.read.refill;
      if (want === undefined) return;
      let settle = () => {};
      leases.track(
        key,
        new Promise<void>((resolve) => {
          settle = resolve;
        }),
      );
      at(now + s.rttMs, () => {
        const answer = ask(user, want);
        if (answer) leases.grant(key, answer, false);
        else leases.refillRefused(key, { drop: false });
        settle();
      });
      return;
    }
    at(now + s.rttMs, () => {
      const answer = ask(user, step.want, step.returned);
      if (answer) {
        leases.grant(key, answer, true);
        admit(user);
        return;
      }
      // The object refused for the user's rate (the only refusal here).
      const effect = { drop: false, quietMs: refusalQuietMs(s.policy.perMinute), spendLanded: true };
      if (leases.askRefused(key, cap, true, effect)) admit(user);
      else refused += 1;
    });
  };

  const gap = 1000 / s.perSecond;
  for (let user = 0; user < s.users; user++) {
    const offset = (user * gap) / s.users;
    for (let i = 0; offset + i * gap < s.seconds * 1000; i++) {
      const leases = isolates[i % s.isolates];
      if (leases) at(offset + i * gap, () => read(user, leases));
    }
  }
  for (let event = events.pop(); event; event = events.pop()) {
    now = event.at;
    event.run();
  }

  const counts = [...admittedBy.values()];
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    asksPerSecond: asks / s.seconds,
    admitted: total,
    refused,
    mostAdmitted: Math.max(0, ...counts),
    allowed: Math.floor(s.policy.capacity + (s.policy.perMinute / 60) * s.seconds),
  };
}

describe('read leases at scale (simulated)', () => {
  const roomy: BucketPolicy = { capacity: 400, perMinute: 60 * 1000 };

  it('800 users reading 10 a second through one isolate each: about 800 object calls a second, every read admitted', () => {
    const out = simulate({ users: 800, perSecond: 10, isolates: 1, seconds: 10, policy: roomy, rttMs: 1 });
    expect(out.refused).toBe(0);
    expect(out.admitted).toBe(800 * 10 * 10);
    // README Scale: a lease of about a second's reads, refilled when half spent: one call a
    // second per user, a tenth of their reads.
    expect(out.asksPerSecond).toBeGreaterThan(600);
    expect(out.asksPerSecond).toBeLessThan(1_000);
  });

  it('one user reading 8,000 a second: about 125 calls a second (leases of 64)', () => {
    const policy = { capacity: 1_000, perMinute: 60 * 10_000 };
    const out = simulate({ users: 1, perSecond: 8_000, isolates: 1, seconds: 5, policy, rttMs: 1 });
    expect(out.refused).toBe(0);
    expect(out.asksPerSecond).toBeGreaterThan(100);
    expect(out.asksPerSecond).toBeLessThan(160);
  });

  it('a user whose reads land on 4 isolates in turn costs about 3 times the calls: leases are per isolate', () => {
    const one = simulate({ users: 100, perSecond: 10, isolates: 1, seconds: 10, policy: roomy, rttMs: 1 });
    const four = simulate({ users: 100, perSecond: 10, isolates: 4, seconds: 10, policy: roomy, rttMs: 1 });
    expect(four.refused).toBe(0);
    expect(four.asksPerSecond / one.asksPerSecond).toBeGreaterThan(2.5);
    expect(four.asksPerSecond / one.asksPerSecond).toBeLessThan(4.5);
    // Still a third of the reads.
    expect(four.asksPerSecond).toBeLessThan(100 * 10 * 0.4);
  });

  it('never admits more than the bucket allows, and leaves little of it unused, on one or many isolates, near or far', () => {
    const tight: BucketPolicy = { capacity: 40, perMinute: 600 }; // 10 a second
    for (const isolates of [1, 3]) {
      for (const rttMs of [1, 20]) {
        const out = simulate({ users: 20, perSecond: 25, isolates, seconds: 20, policy: tight, rttMs });
        expect(out.mostAdmitted).toBeLessThanOrEqual(out.allowed);
        // Met a little early at most: leftovers go back with the next ask.
        expect(out.admitted / (20 * out.allowed)).toBeGreaterThan(0.9);
        expect(out.refused).toBeGreaterThan(0);
      }
    }
  });

  it('a user hammering far past their limit costs a few calls a second, not one per refused read', () => {
    const tight: BucketPolicy = { capacity: 40, perMinute: 600 }; // 10 a second, quiet 100 ms
    for (const isolates of [1, 3]) {
      const out = simulate({ users: 10, perSecond: 500, isolates, seconds: 10, policy: tight, rttMs: 1 });
      expect(out.mostAdmitted).toBeLessThanOrEqual(out.allowed);
      expect(out.admitted / (10 * out.allowed)).toBeGreaterThan(0.9);
      // Per user and isolate: one refused ask per quiet (100 ms) and one ask per admitted
      // read (the bucket holds a token at a time), about 20 a second; without the quiet each
      // of the ~490 refused reads a second asked.
      expect(out.asksPerSecond / (10 * isolates)).toBeLessThan(25);
    }
  });
});
