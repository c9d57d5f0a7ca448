import { afterEach, describe, expect, it, vi } from 'vitest';
import { LOG_BATCH_MAX, LOG_FLUSH_MS, LogBatch } from '../../src/runs/batch';
import type { LoggedEvent } from '../../src/runs/schema';

const event = (n: number): LoggedEvent => ({ n, event: { type: 'content', delta: `word${n}` } });

function recorder() {
  const writes: number[][] = [];
  const batch = new LogBatch((events) => writes.push(events.map((e) => e.n)));
  return { writes, batch };
}

describe('a run log batch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes nothing while fewer than the batch size wait and no flush came', () => {
    const { writes, batch } = recorder();
    for (let n = 1; n < LOG_BATCH_MAX; n++) batch.add(event(n));
    expect(writes).toEqual([]);
  });

  it('writes a full batch in one call, in order, at once', () => {
    const { writes, batch } = recorder();
    for (let n = 1; n <= LOG_BATCH_MAX + 1; n++) batch.add(event(n));
    expect(writes).toEqual([Array.from({ length: LOG_BATCH_MAX }, (_, i) => i + 1)]);
  });

  it('writes what waits on flush, and nothing on a flush with nothing waiting', () => {
    const { writes, batch } = recorder();
    batch.add(event(1));
    batch.add(event(2));
    batch.flush();
    batch.flush();
    expect(writes).toEqual([[1, 2]]);
  });

  it('writes what waits once the flush interval has passed, once', () => {
    vi.useFakeTimers();
    const { writes, batch } = recorder();
    batch.add(event(1));
    vi.advanceTimersByTime(LOG_FLUSH_MS - 1);
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(writes).toEqual([[1]]);
    vi.advanceTimersByTime(10 * LOG_FLUSH_MS);
    expect(writes).toEqual([[1]]);
  });
});
