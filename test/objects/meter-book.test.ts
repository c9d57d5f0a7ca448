import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { UsageEntry } from '../../src/metering/metrics';
import { type MeterSink, UsageTally } from '../../src/metering/usage';
import { MeterBook } from '../../src/objects/meter-book';

const DAY = '2026-03-04';
const query = { from: DAY, to: DAY, byUser: true };
const entries: UsageEntry[] = [
  { day: DAY, user: 'alice', counts: { requests: 3, 'refused.rate_user': 1 } },
  { day: DAY, user: 'bob', counts: { requests: 1, threads_created: 1 } },
];
const rows = [
  { day: DAY, user: 'alice', metric: 'refused.rate_user', n: 1 },
  { day: DAY, user: 'alice', metric: 'requests', n: 3 },
  { day: DAY, user: 'bob', metric: 'requests', n: 1 },
  { day: DAY, user: 'bob', metric: 'threads_created', n: 1 },
];

const freshState = () => env.TENANT_STATE.getByName(`meter-${crypto.randomUUID().slice(0, 8)}`);

describe('MeterBook: counts written behind', () => {
  it('answers a sender only once its counts are written, and writes them in one batch', async () => {
    const stub = freshState();
    await runInDurableObject(stub, async (_, state) => {
      const book = new MeterBook(state.storage, 60_000);
      let answered = 0;
      const first = book.add(entries.slice(0, 1)).then(() => answered++);
      const second = book.add(entries.slice(1)).then(() => answered++);
      await Promise.resolve();
      // Held in memory: not written, and nobody told they were.
      expect({ answered, written: book.read(query) }).toEqual({ answered: 0, written: [] });
      book.flush();
      await Promise.all([first, second]);
      expect({ answered, written: book.read(query) }).toEqual({ answered: 2, written: rows });
    });
  });

  it('loses nothing when the object is evicted with counts in flight, and adds to them after', async () => {
    const stub = freshState();
    expect(await stub.meteredUsage(query)).toEqual([]);
    const inFlight = stub.meter(entries);
    // Eviction waits for the calls in flight; each is answered only once written.
    await evictDurableObject(stub);
    await inFlight;
    expect(await stub.meteredUsage(query)).toEqual(rows);
    // A new instance adds to what the evicted one wrote.
    await evictDurableObject(stub);
    await stub.meter(entries.slice(1));
    expect(await stub.meteredUsage(query)).toEqual([
      rows[0],
      rows[1],
      { ...rows[2], n: 2 },
      { ...rows[3], n: 2 },
    ]);
  });

  it('sums a day per tenant when not grouped by user', async () => {
    const stub = freshState();
    await stub.meter(entries);
    expect(await stub.meteredUsage({ ...query, byUser: false })).toEqual([
      { day: DAY, user: '', metric: 'refused.rate_user', n: 1 },
      { day: DAY, user: '', metric: 'requests', n: 4 },
      { day: DAY, user: '', metric: 'threads_created', n: 1 },
    ]);
  });
});

describe('UsageTally: a request’s counts on their way', () => {
  const tally = (sink: MeterSink) =>
    new UsageTally({ tenant: 't', user: 'alice', requestId: 'r', stub: () => sink });

  it('sends once what was counted, by UTC day, and nothing when nothing was', async () => {
    const sent: UsageEntry[][] = [];
    const t = tally({ meter: async (e) => sent.push(e) });
    await t.ship();
    expect(sent).toEqual([]);
    t.add({ requests: 1, upstream_calls: 0 }, Date.parse('2026-03-04T23:59:59Z'));
    t.add({ requests: 1 }, Date.parse('2026-03-05T00:00:01Z'));
    await t.ship();
    await t.ship();
    expect(sent).toEqual([
      [
        { day: '2026-03-04', user: 'alice', counts: { requests: 1 } },
        { day: '2026-03-05', user: 'alice', counts: { requests: 1 } },
      ],
    ]);
  });

  it('sends again, once, a call lost to an object reset (retryable), and not one that failed otherwise', async () => {
    let calls = 0;
    const reset = tally({
      meter: async () => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('Durable Object reset'), { retryable: true });
      },
    });
    reset.add({ requests: 1 });
    await reset.ship();
    expect(calls).toBe(2);

    let failures = 0;
    const broken = tally({
      meter: async () => {
        failures += 1;
        throw new Error('bad request');
      },
    });
    broken.add({ requests: 1 });
    // Never throws: the lost counts are logged instead.
    await expect(broken.ship()).resolves.toBeUndefined();
    expect(failures).toBe(1);
  });
});
