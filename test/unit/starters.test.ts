import { afterEach, describe, expect, it, vi } from 'vitest';
import { ANSWERED_TTL_MS, EARLY_LEAVE_TTL_MS, Starters } from '../../src/runs/starters';

/**
 * The starting connections a runs object can drop when their caller hung up before the
 * start was answered: the hang-up and the start race to the object, so either may come
 * first; only the starter's own token, on its own thread and user, drops its connection.
 */
const at = { threadId: 'thread_1', user: 'u' };

afterEach(() => {
  vi.useRealTimers();
});

describe('Starters', () => {
  it('drops a joined starter’s connection when its caller left, once', () => {
    const starters = new Starters();
    const drop = vi.fn<() => void>();
    starters.joined(at, 'tok', drop);
    expect(drop).not.toHaveBeenCalled();
    starters.left(at, 'tok');
    expect(drop).toHaveBeenCalledTimes(1);
    starters.left(at, 'tok');
    expect(drop).toHaveBeenCalledTimes(1);
  });

  it('a hang-up that came before its start joined drops the connection as it joins', () => {
    const starters = new Starters();
    starters.left(at, 'tok');
    const drop = vi.fn<() => void>();
    starters.joined(at, 'tok', drop);
    expect(drop).toHaveBeenCalledTimes(1);
    // Remembered once: a later start with another token is not dropped.
    const other = vi.fn<() => void>();
    starters.joined(at, 'tok2', other);
    expect(other).not.toHaveBeenCalled();
  });

  it('another user’s or thread’s hang-up with the same token drops nothing', () => {
    const starters = new Starters();
    const drop = vi.fn<() => void>();
    starters.joined(at, 'tok', drop);
    starters.left({ ...at, user: 'v' }, 'tok');
    starters.left({ ...at, threadId: 'thread_2' }, 'tok');
    expect(drop).not.toHaveBeenCalled();
  });

  it('a start without a token is never dropped', () => {
    const starters = new Starters();
    const drop = vi.fn<() => void>();
    starters.joined(at, undefined, drop);
    starters.answered(at, undefined);
    expect(drop).not.toHaveBeenCalled();
  });

  it('an answered start can be dropped for a while, then it is its reader’s', async () => {
    vi.useFakeTimers();
    const starters = new Starters();
    const early = vi.fn<() => void>();
    starters.joined(at, 'early', early);
    starters.answered(at, 'early');
    await vi.advanceTimersByTimeAsync(ANSWERED_TTL_MS - 1);
    starters.left(at, 'early');
    expect(early).toHaveBeenCalledTimes(1);

    const late = vi.fn<() => void>();
    starters.joined(at, 'late', late);
    starters.answered(at, 'late');
    await vi.advanceTimersByTimeAsync(ANSWERED_TTL_MS + 1);
    starters.left(at, 'late');
    expect(late).not.toHaveBeenCalled();
  });

  it('an early hang-up is forgotten after its time: a start joining later is kept', async () => {
    vi.useFakeTimers();
    const starters = new Starters();
    starters.left(at, 'tok');
    await vi.advanceTimersByTimeAsync(EARLY_LEAVE_TTL_MS + 1);
    const drop = vi.fn<() => void>();
    starters.joined(at, 'tok', drop);
    expect(drop).not.toHaveBeenCalled();
  });
});
