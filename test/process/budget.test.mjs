// Issue 11, "budgets that count spend": the upstream bills every thread creation, so a
// user looping create + delete must be stopped by `threads_per_user_per_day` (contract
// section 1) however many threads exist at once, and the upstream must have been asked
// for exactly the budget's worth of threads.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'budget';
const BUDGET = 3;

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'budget',
    tenants: {
      // threads_per_user is far above the budget: only the day budget can refuse.
      [TENANT]: tenantConfig({ limits: { threads_per_user: 50, threads_per_user_per_day: BUDGET } }),
    },
  });
});

after(() => stack?.stop());

/** Seconds from now to the next UTC midnight (the day window's end). */
function secondsToUtcMidnight() {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return (midnight - now.getTime()) / 1000;
}

test(`create + delete in a loop: creation ${BUDGET + 1} of the day is 429 BUDGET_EXCEEDED`, async () => {
  // The loop must not straddle the day's end (the window would start over).
  const left = secondsToUtcMidnight();
  if (left < 15) await sleep((left + 1) * 1000);

  const user = 'looper';
  const upstreamCreates = (/** @type {{ requests: Record<string, number> }} */ s) =>
    s.requests['POST /threads/'] ?? 0;
  const accountBefore = await stack.emulator.account();
  const statsBefore = await stack.emulator.stats();

  for (let i = 1; i <= BUDGET; i++) {
    const created = await stack.request('POST', '/v1/threads', { as: [TENANT, user], json: {} });
    assert.equal(created.status, 201, `creation ${i}: ${describe(created)}`);
    const id = created.json.thread_id;
    const deleted = await stack.request('DELETE', `/v1/threads/${id}`, { as: [TENANT, user] });
    assert.equal(deleted.status, 204, `deletion ${i}: ${describe(deleted)}`);
  }

  const refused = await stack.request('POST', '/v1/threads', { as: [TENANT, user], json: {} });
  assert.equal(refused.status, 429, `creation ${BUDGET + 1}: ${describe(refused)}`);
  assert.equal(refused.json?.code, 'BUDGET_EXCEEDED', describe(refused));
  for (const field of ['error', 'detail', 'request_id']) {
    assert.equal(typeof refused.json?.[field], 'string', `the error body's ${field}`);
  }
  const retryAfter = refused.headers.get('retry-after') ?? '';
  assert.match(retryAfter, /^\d+$/, 'Retry-After is whole seconds');
  // To the window's end: the next UTC midnight (a little slack for the clocks).
  assert.ok(
    Number(retryAfter) >= 1 && Number(retryAfter) <= secondsToUtcMidnight() + 5,
    `Retry-After ${retryAfter} is not the time to the next UTC midnight (${Math.round(secondsToUtcMidnight())} s)`,
  );

  // The upstream created (and billed) exactly the budget's threads: the refusal cost nothing.
  const accountAfter = await stack.emulator.account();
  const statsAfter = await stack.emulator.stats();
  assert.equal(
    accountAfter.thread_counter - accountBefore.thread_counter,
    BUDGET,
    "the account's thread_counter",
  );
  assert.equal(upstreamCreates(statsAfter) - upstreamCreates(statsBefore), BUDGET, 'upstream POST /threads/');
});
