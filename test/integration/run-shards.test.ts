import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RUN_SHARDS, runShard } from '../../src/services/run';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { SseReader } from '../helpers/sse';

/**
 * A tenant's threads share a few runs objects (one per shard of thread ids), so what a
 * thread's runs object knows must stay that thread's: another thread in the same object
 * does not see its runs and is not made busy by them; a user's idempotency key, though,
 * is theirs across threads (test/integration/run-keys.test.ts).
 */
const RunResult = z.object({ run_id: z.string() });
const RunList = z.object({ runs: z.array(z.object({ run_id: z.string() })) });

async function setup() {
  const gw = testGateway({
    tenants: {
      acme: {
        ...TENANTS.acme,
        limits: {
          ...TENANTS.acme.limits,
          threads_per_user: RUN_SHARDS + 1,
          threads_per_user_per_day: RUN_SHARDS + 1,
        },
      },
    },
  });
  const alice = await gw.caller('acme');
  // More threads than shards: two of them share a runs object.
  const seen = new Map<number, string>();
  for (let i = 0; i <= RUN_SHARDS; i++) {
    const thread = await newThread(alice);
    const other = seen.get(runShard(thread));
    if (other) return { gw, alice, a: other, b: thread };
    seen.set(runShard(thread), thread);
  }
  throw new Error('no two threads share a shard');
}

const post = (caller: Caller, thread: string, message: string, key?: string) =>
  caller.request('POST', `/v1/threads/${thread}/run`, {
    json: { message, stream: false },
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });

describe('runs of threads that share a runs object', () => {
  it('a run of one thread is not found through the other', async () => {
    const { gw, alice, a, b } = await setup();
    const res = await post(alice, a, 'hello there');
    expect(res.status).toBe(200);
    const { run_id } = await parseJson(res, RunResult);
    const before = await gw.emulator.stats();
    expect((await alice.request('GET', `/v1/threads/${b}/runs/${run_id}`)).status).toBe(404);
    expect((await alice.request('GET', `/v1/threads/${b}/runs/${run_id}/events`)).status).toBe(404);
    expect((await alice.request('POST', `/v1/threads/${b}/runs/${run_id}/cancel`)).status).toBe(404);
    expect((await parseJson(await alice.request('GET', `/v1/threads/${b}/runs`), RunList)).runs).toEqual([]);
    // Its own thread still has it, and nothing reached the upstream's runs meanwhile.
    expect((await alice.request('GET', `/v1/threads/${a}/runs/${run_id}`)).status).toBe(200);
    expect((await gw.emulator.stats()).runs).toBe(before.runs);
  });

  it('a run in progress on one thread leaves the other free to run', async () => {
    const { gw, alice, a, b } = await setup();
    await gw.emulator.configure({ reply: 'one two three four five six', stream: { pace_ms: 100 } });
    const streaming = await alice.request('POST', `/v1/threads/${a}/run`, { json: { message: 'x' } });
    expect(streaming.status).toBe(200);
    const reader = new SseReader(streaming);
    expect((await reader.nextEvent())?.event).toBe('start');
    const other = await post(alice, b, 'y');
    expect(other.status).toBe(200);
    await reader.rest();
  });

  it('an Idempotency-Key is the user’s: the same key on the other thread of the shard is 409', async () => {
    const { gw, alice, a, b } = await setup();
    await parseJson(await post(alice, a, 'one message', 'key-1'), RunResult);
    // The runs object keys its runs by thread; the tenant's object bound the key to a at a's admission.
    await expectError(await post(alice, b, 'one message', 'key-1'), 409, 'IDEMPOTENCY_CONFLICT');
    expect((await gw.emulator.stats()).runs).toBe(1);
  });
});
