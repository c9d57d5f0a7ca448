import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { expectError } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * The upstream reissuing a thread id the gateway already records (issue 12, item 2: the
 * emulator restarted under `npm start` while the Durable Object state persisted).
 */
describe('an upstream thread id the gateway already holds', () => {
  it('is the same thread again for its owner, and 502 (logged, never 500) for anyone else', async () => {
    const gw = testGateway();
    const [alice, bob] = [await gw.caller('acme'), await gw.caller('acme')];
    const create = (caller: typeof alice) => caller.request('POST', '/v1/threads', { json: {} });
    const first = await create(alice);
    expect(first.status).toBe(201);
    const { thread_id } = await parseJson(first, z.object({ thread_id: z.string() }));

    // The upstream forgets everything and numbers its threads from 1 again.
    await gw.emulator.reset();
    const errors = vi.spyOn(console, 'error');
    const clash = await create(bob);
    await expectError(clash, 502, 'UPSTREAM_BAD_RESPONSE');
    const logged = errors.mock.calls.map(([line]) => String(line));
    expect(logged.some((line) => line.includes('thread id already held'))).toBe(true);
    // Bob got nothing of Alice's, and his reservation was given back.
    expect(
      (await parseJson(await bob.request('GET', '/v1/threads'), z.object({ threads: z.array(z.unknown()) })))
        .threads,
    ).toEqual([]);
    await expectError(await bob.request('GET', `/v1/threads/${thread_id}`), 404, 'NOT_FOUND');
    const usage = await parseJson(
      await bob.request('GET', '/v1/usage'),
      z.object({ threads: z.object({ yours: z.number() }) }),
    );
    expect(usage.threads.yours).toBe(0);

    await gw.emulator.reset();
    const again = await create(alice);
    expect(again.status).toBe(201);
    expect((await parseJson(again, z.object({ thread_id: z.string() }))).thread_id).toBe(thread_id);
    const mine = await parseJson(
      await alice.request('GET', '/v1/threads'),
      z.object({ threads: z.array(z.object({ thread_id: z.string() })) }),
    );
    expect(mine.threads.map((t) => t.thread_id)).toEqual([thread_id]);
  });
});
