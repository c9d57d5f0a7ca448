import { describe, expect, it } from 'vitest';
import { expectAuthenticatedHeaders, expectError, watchUpstream } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';

const KIB_64 = 64 * 1024;

async function newThread(caller: Caller): Promise<string> {
  const res = await caller.request('POST', '/v1/threads', { json: {} });
  expect(res.status).toBe(201);
  return ((await res.json()) as { thread_id: string }).thread_id;
}

describe('thread database', () => {
  const gw = testGateway();

  it('puts, gets one key and gets all keys', async () => {
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const db = `/v1/threads/${threadId}/db`;

    const empty = await alice.request('GET', db);
    expect(empty.status).toBe(200);
    expectAuthenticatedHeaders(empty);
    expect(await empty.json()).toEqual({});

    const value = { cart: [1, 2, 3], note: 'ünïcödé', nested: { ok: true, n: null } };
    const put = await alice.request('PUT', `${db}/cart`, { json: { value } });
    expect(put.status).toBe(200);
    expectAuthenticatedHeaders(put);
    expect(await put.json()).toEqual({ key: 'cart', value });
    expect((await alice.request('PUT', `${db}/count`, { json: { value: 7 } })).status).toBe(200);

    const one = await alice.request('GET', `${db}/cart`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(value);
    expect(await (await alice.request('GET', `${db}/count`)).json()).toBe(7);
    expect(await (await alice.request('GET', db)).json()).toEqual({ cart: value, count: 7 });

    // Overwrite.
    await alice.request('PUT', `${db}/count`, { json: { value: 'eight' } });
    expect(await (await alice.request('GET', `${db}/count`)).json()).toBe('eight');
  });

  it('answers an absent key with 404', async () => {
    const bob = await gw.caller('acme');
    const threadId = await newThread(bob);
    const res = await bob.request('GET', `/v1/threads/${threadId}/db/absent_key`);
    const body = await expectError(res, 404, 'NOT_FOUND');
    expect(body.detail).not.toContain('absent_key');
  });

  it('accepts a value of exactly 64 KiB and refuses one byte more before the upstream', async () => {
    const carol = await gw.caller('acme');
    const threadId = await newThread(carol);
    const db = `/v1/threads/${threadId}/db`;
    // A JSON string of n characters serializes to n + 2 bytes.
    const atLimit = 'x'.repeat(KIB_64 - 2);
    const put = await carol.request('PUT', `${db}/at_limit`, { json: { value: atLimit } });
    expect(put.status).toBe(200);
    expect(await (await carol.request('GET', `${db}/at_limit`)).json()).toBe(atLimit);

    const watch = await watchUpstream(gw.emulator);
    const over = await carol.request('PUT', `${db}/over_limit`, { json: { value: `${atLimit}x` } });
    await expectError(over, 413, 'PAYLOAD_TOO_LARGE', 'value');
    // A body far over the limit is refused by the route's body cap while it streams in.
    const huge = await carol.request('PUT', `${db}/huge`, { json: { value: 'y'.repeat(300 * 1024) } });
    await expectError(huge, 413, 'PAYLOAD_TOO_LARGE', 'value');
    await watch.expectNone();
    await expectError(await carol.request('GET', `${db}/over_limit`), 404, 'NOT_FOUND');
  });

  it('validates the body and the key before any upstream call', async () => {
    const dave = await gw.caller('acme');
    const threadId = await newThread(dave);
    const db = `/v1/threads/${threadId}/db`;
    const watch = await watchUpstream(gw.emulator);

    await expectError(await dave.request('PUT', `${db}/k`, { json: {} }), 400, 'VALIDATION_ERROR', 'value');
    await expectError(
      await dave.request('PUT', `${db}/k`, { json: { value: 1, extra: 2 } }),
      400,
      'VALIDATION_ERROR',
      'extra',
    );
    const malformed = await dave.request('PUT', `${db}/k`, {
      body: '{"value": ',
      headers: { 'content-type': 'application/json' },
    });
    await expectError(malformed, 400, 'BAD_REQUEST');
    for (const key of ['..%2f', 'a%0d%0ab', 'k.v', 'x'.repeat(129)]) {
      await expectError(await dave.request('GET', `${db}/${key}`), 400, 'VALIDATION_ERROR', 'key');
      await expectError(
        await dave.request('PUT', `${db}/${key}`, { json: { value: 1 } }),
        400,
        'VALIDATION_ERROR',
        'key',
      );
    }
    await watch.expectNone();
  });

  it('answers a missing thread with 404 and no upstream call', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    await expectError(await erin.request('GET', '/v1/threads/thread_404/db'), 404, 'NOT_FOUND');
    await expectError(await erin.request('GET', '/v1/threads/thread_404/db/k'), 404, 'NOT_FOUND');
    await expectError(
      await erin.request('PUT', '/v1/threads/thread_404/db/k', { json: { value: 1 } }),
      404,
      'NOT_FOUND',
    );
    await watch.expectNone();
  });
});
