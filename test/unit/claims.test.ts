import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLAIM_TTL_MS, Claims } from '../../src/runs/claims';
import type { NamedRun } from '../../src/runs/schema';

/**
 * The claims a runs object keeps on `Idempotency-Key`s while their first request is being
 * admitted and started: a twin waits on its key, only the claim's own request ends it,
 * and a claim whose request never came back expires unless its start is under way.
 */
const at = { threadId: 'thread_1', user: 'u', idempotency: { key: 'k', bodyHash: 'h' } };
const run: NamedRun = { kind: 'run', runId: 'run_1', after: 0 };

/** A twin asking for `at`, with whether it has been answered yet. */
function twin(claims: Claims, find: () => NamedRun | null, owner: string) {
  const state: { answer?: NamedRun | null } = {};
  const answered = claims.named(at, owner, find).then((answer) => {
    state.answer = answer;
    return answer;
  });
  return { state, answered };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Claims', () => {
  it('lets a twin through once its first started, to the run it started', async () => {
    const claims = new Claims();
    let recorded: NamedRun | null = null;
    const find = () => recorded;
    expect(await claims.named(at, 'first', find)).toBeNull();
    const second = twin(claims, find, 'second');
    await Promise.resolve();
    expect(second.state).toEqual({});
    recorded = run;
    claims.settle(at, 'first');
    expect(await second.answered).toEqual(run);
  });

  it('is ended only by its own request: a late release of an older one leaves it', async () => {
    const claims = new Claims();
    const find = () => null;
    expect(await claims.named(at, 'first', find)).toBeNull();
    claims.settle(at, 'first');
    // The key is claimed again; the first's release arrives late, and its twin keeps waiting.
    expect(await claims.named(at, 'second', find)).toBeNull();
    const third = twin(claims, find, 'third');
    claims.settle(at, 'first');
    claims.hold(at, 'first');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(third.state).toEqual({});
    claims.settle(at, 'second');
    // Nothing was recorded (second was refused): the third claims the key for itself.
    expect(await third.answered).toBeNull();
  });

  it('expires a claim whose request never came back, but not one whose start is under way', async () => {
    vi.useFakeTimers();
    const claims = new Claims();
    const find = () => null;
    const other = { ...at, idempotency: { key: 'k2', bodyHash: 'h' } };
    expect(await claims.named(at, 'gone', find)).toBeNull();
    expect(await claims.named(other, 'starting', find)).toBeNull();
    claims.hold(other, 'starting');
    const afterGone = twin(claims, find, 'next');
    const afterStarting = claims.named(other, 'next', find);
    let startingAnswered = false;
    void afterStarting.then(() => {
      startingAnswered = true;
    });
    await vi.advanceTimersByTimeAsync(CLAIM_TTL_MS + 1);
    expect(await afterGone.answered).toBeNull();
    expect(startingAnswered).toBe(false);
    claims.settle(other, 'starting');
    expect(await afterStarting).toBeNull();
  });

  it('claims nothing and waits for nothing without a key or an owner', async () => {
    const claims = new Claims();
    const find = () => null;
    expect(await claims.named(at, undefined, find)).toBeNull();
    expect(await claims.named({ threadId: 'thread_1', user: 'u' }, 'x', find)).toBeNull();
    // Neither left a claim: a keyed request now claims at once.
    expect(await claims.named(at, 'y', find)).toBeNull();
  });
});
