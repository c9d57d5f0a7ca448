import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { dayWindow, monthWindow, secondsLeft } from '../../src/limits/windows';
import { runBudgets, SPEND_SCHEMA, SpendBook, threadBudgets } from '../../src/objects/spend-book';
import { DEFAULT_LIMITS } from '../../src/tenant';

const limits = { ...DEFAULT_LIMITS, threads_per_user_per_day: 2, threads_per_day: 3, threads_per_month: 4 };
const at = (iso: string) => Date.parse(iso);

/** A spend book on a fresh tenant object's own SQLite storage. */
async function withBook(use: (book: SpendBook) => void): Promise<void> {
  const stub = env.TENANT_STATE.getByName(`spend-${crypto.randomUUID()}`);
  await runInDurableObject(stub, (_, state) => {
    state.storage.sql.exec(SPEND_SCHEMA);
    use(new SpendBook(state.storage.sql));
  });
}

describe('UTC budget windows', () => {
  it('ends a day at the next UTC midnight, across a year end', () => {
    const w = dayWindow(at('2026-12-31T23:59:59.500Z'));
    expect(w.key).toBe('2026-12-31');
    expect(new Date(w.endsAt).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(secondsLeft(w, at('2026-12-31T23:59:59.500Z'))).toBe(1);
  });

  it('ends a month on the first of the next, leap February included', () => {
    expect(new Date(monthWindow(at('2028-02-29T12:00:00Z')).endsAt).toISOString()).toBe(
      '2028-03-01T00:00:00.000Z',
    );
    expect(monthWindow(at('2026-11-30T23:59:59Z')).key).toBe('2026-11');
    expect(monthWindow(at('2026-12-01T00:00:00Z')).key).toBe('2026-12');
  });
});

describe('SpendBook', () => {
  it('refuses at the limit until UTC midnight, then starts the day afresh', async () => {
    await withBook((book) => {
      const evening = at('2026-12-03T23:59:58Z');
      for (let i = 0; i < 2; i++) {
        const budgets = threadBudgets('u', limits, evening);
        expect(book.check(budgets, evening)).toEqual({ ok: true });
        book.take(budgets);
      }
      expect(book.check(threadBudgets('u', limits, evening), evening)).toEqual({
        ok: false,
        budget: 'threads_per_user_per_day',
        retryAfter: 2,
      });
      const morning = at('2026-12-04T00:00:01Z');
      expect(book.check(threadBudgets('u', limits, morning), morning)).toEqual({ ok: true });
    });
  });

  it('keeps the month across midnight and refuses until the month ends', async () => {
    await withBook((book) => {
      const days = ['2026-11-27', '2026-11-28', '2026-11-29', '2026-11-30'];
      for (const [i, day] of days.entries())
        book.take(threadBudgets(`u${i}`, limits, at(`${day}T10:00:00Z`)));
      const last = at('2026-11-30T23:00:00Z');
      const refused = book.check(threadBudgets('v', limits, last), last);
      expect(refused).toEqual({ ok: false, budget: 'threads_per_month', retryAfter: 3600 });
      const december = at('2026-12-01T00:00:00Z');
      expect(book.check(threadBudgets('v', limits, december), december)).toEqual({ ok: true });
    });
  });

  it('gives a unit back only within its own window', async () => {
    await withBook((book) => {
      const day = at('2026-12-03T12:00:00Z');
      const marks = book.take(runBudgets('u', limits, day));
      book.refund(marks);
      expect(book.states(runBudgets('u', limits, day), day).runs_per_user_per_day.used).toBe(0);
      const kept = book.take(runBudgets('u', limits, day));
      const tomorrow = at('2026-12-04T12:00:00Z');
      book.take(runBudgets('u', limits, tomorrow));
      book.refund(kept); // yesterday's unit: nothing of today's is given back
      expect(book.states(runBudgets('u', limits, tomorrow), tomorrow).runs_per_user_per_day.used).toBe(1);
    });
  });
});
