import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { newThread, spending } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';

/**
 * An `Idempotency-Key` is the user's (contract §4), not the thread's: the same key on
 * another of the user's threads within 24 h is `409 IDEMPOTENCY_CONFLICT`, and starts no
 * second upstream run. The key's run lives in its thread's runs object; its binding to
 * the thread is made by the run's admission in the tenant's object.
 */
const RunResult = z.object({ run_id: z.string(), content: z.string() });

const gatewayWith = (limits: Record<string, number> = {}) =>
  testGateway({ tenants: { t: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, ...limits } } } });

const post = (caller: Caller, thread: string, message: string, key: string) =>
  caller.request('POST', `/v1/threads/${thread}/run`, {
    json: { message, stream: false },
    headers: { 'idempotency-key': key },
  });

describe('an Idempotency-Key across threads', () => {
  it('refuses the key on another thread 409, spending nothing and calling no upstream', async () => {
    const gw = gatewayWith();
    const alice = await gw.caller('t');
    const [first, second] = [await newThread(alice), await newThread(alice)];
    const run = await parseJson(await post(alice, first, 'hello', 'k-1'), RunResult);
    const before = await spending(alice);
    const runsBefore = (await gw.emulator.stats()).runs;

    await expectError(await post(alice, second, 'hello', 'k-1'), 409, 'IDEMPOTENCY_CONFLICT');
    expect(await spending(alice)).toEqual(before);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    // The key still names its run on its own thread.
    expect(await parseJson(await post(alice, first, 'hello', 'k-1'), RunResult)).toEqual(run);
    // And the other thread runs under another key.
    expect((await post(alice, second, 'hello', 'k-2')).status).toBe(200);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore + 1);
  });

  it('is per user: another user’s same key on their own thread is a run of theirs', async () => {
    const gw = gatewayWith();
    const [alice, bob] = [await gw.caller('t'), await gw.caller('t')];
    const [hers, his] = [await newThread(alice), await newThread(bob)];
    const a = await parseJson(await post(alice, hers, 'hello', 'shared'), RunResult);
    const b = await parseJson(await post(bob, his, 'hello', 'shared'), RunResult);
    expect(b.run_id).not.toBe(a.run_id);
  });

  it('binds no key for a run admission refused: the key then runs on another thread', async () => {
    const gw = gatewayWith({ runs_per_user_per_day: 1 });
    const [alice, bob] = [await gw.caller('t'), await gw.caller('t')];
    const [first, second] = [await newThread(alice), await newThread(alice)];
    expect((await post(alice, first, 'hello', 'k-0')).status).toBe(200);
    // The day's one run unit is spent: refused before the key is bound.
    await expectError(await post(alice, first, 'hello', 'k-3'), 429, 'BUDGET_EXCEEDED');
    // Refused again for the budget, on another thread: not a conflict, nothing was bound.
    await expectError(await post(alice, second, 'hello', 'k-3'), 429, 'BUDGET_EXCEEDED');
    // Bob's budget is his own, and his key binds to his thread alone.
    const his = await newThread(bob);
    expect((await post(bob, his, 'hello', 'k-3')).status).toBe(200);
  });

  it('lets one of two racing first uses on two threads run, the other 409', async () => {
    const gw = gatewayWith();
    const alice = await gw.caller('t');
    const threads = [await newThread(alice), await newThread(alice), await newThread(alice)];
    const runsBefore = (await gw.emulator.stats()).runs;
    const answers = await Promise.all(threads.map((thread) => post(alice, thread, 'hello', 'race')));
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses).toEqual([200, 409, 409]);
    for (const res of answers.filter((r) => r.status === 409))
      await expectError(res, 409, 'IDEMPOTENCY_CONFLICT');
    expect((await gw.emulator.stats()).runs).toBe(runsBefore + 1);
    expect((await spending(alice)).budgets.runs_per_user_per_day?.used).toBe(1);
  });
});
