import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AlarmStorage, KEEPALIVE_MS, Wakeups } from '../../src/runs/wakeups';

/** A fake alarm store and log: what the wake-ups asked of them. */
function setup(nextPrune: () => number | null) {
  const setAlarm: number[] = [];
  const calls = { prunes: 0, setAlarm, deleteAlarm: 0 };
  let alarm: number | null = null;
  const storage: AlarmStorage = {
    getAlarm: async () => alarm,
    setAlarm: async (at) => {
      alarm = typeof at === 'number' ? at : at.getTime();
      calls.setAlarm.push(alarm);
    },
    deleteAlarm: async () => {
      alarm = null;
      calls.deleteAlarm += 1;
    },
  };
  const log = {
    prune: () => {
      calls.prunes += 1;
      return nextPrune();
    },
  };
  return { calls, wakeups: new Wakeups(storage, log) };
}

describe('a runs object’s wake-ups', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prunes once, then not again before what it said was due', async () => {
    const { calls, wakeups } = setup(() => 1_000_000 + 10 * KEEPALIVE_MS);
    await wakeups.load();
    for (let i = 0; i < 5; i++) await wakeups.keepAlive(true);
    expect(calls.prunes).toBe(1);
    vi.setSystemTime(1_000_000 + 10 * KEEPALIVE_MS);
    await wakeups.keepAlive(false);
    expect(calls.prunes).toBe(2);
  });

  it('prunes again once a newly ended run’s log is due, not before', async () => {
    const { calls, wakeups } = setup(() => null);
    await wakeups.keepAlive(false);
    wakeups.due(1_000_000 + 5000);
    await wakeups.keepAlive(false);
    expect(calls.prunes).toBe(1);
    vi.setSystemTime(1_000_000 + 5000);
    await wakeups.keepAlive(false);
    expect(calls.prunes).toBe(2);
  });

  it('sets the alarm for the earliest of the next prune and the live keep-alive, and writes an unchanged one once', async () => {
    const { calls, wakeups } = setup(() => 1_000_000 + 2 * KEEPALIVE_MS);
    await wakeups.keepAlive(true);
    await wakeups.keepAlive(true);
    expect(calls.setAlarm).toEqual([1_000_000 + KEEPALIVE_MS]);
  });

  it('clears the alarm when nothing is live and nothing is due', async () => {
    const { calls, wakeups } = setup(() => null);
    await wakeups.keepAlive(true);
    await wakeups.keepAlive(false);
    expect(calls.deleteAlarm).toBe(1);
  });
});
