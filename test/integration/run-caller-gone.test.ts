import { describe, expect, it } from 'vitest';
import { expectError } from '../helpers/assertions';
import { newThread, spending } from '../helpers/fixtures';
import { testGateway } from '../helpers/gateway';

/**
 * A caller whose request was cancelled before its run began (its client hung up during
 * admission, or before a chat's retry): the run is not begun for nobody. Nothing reaches
 * the upstream, and the slot and the run's budget unit go back. (A hang-up while the run's
 * upstream opens is test/process/open-hangup.test.mjs, against the Worker as a process.)
 */
describe('a run whose caller is gone before it starts', () => {
  it('is not begun: no upstream run, nothing spent, no slot held', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const before = await spending(alice);
    const gone = new AbortController();
    gone.abort();
    const res = await alice.request('POST', `/v1/threads/${threadId}/run`, {
      json: { message: 'nobody will read this' },
      signal: gone.signal,
    });
    await expectError(res, 409, 'RUN_CANCELLED');
    expect(await spending(alice)).toEqual(before);
    expect((await gw.emulator.stats()).runs).toBe(0);
    // The thread is free for the next run.
    const next = await alice.request('POST', `/v1/threads/${threadId}/run`, { json: { message: 'hello' } });
    expect(next.status).toBe(200);
    await next.text();
    expect((await gw.emulator.stats()).runs).toBe(1);
  });
});
