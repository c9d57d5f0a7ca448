import { describe, expect, it } from 'vitest';
import { expectAuthenticatedHeaders, expectError, watchUpstream } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

const KIB_64 = 64 * 1024;

/** What `PUT /v1/threads/{thread_id}/db/{key}` stores: any JSON value. */
type DbValue = Parameters<
  Caller['edge']['v1']['threads'][':thread_id']['db'][':key']['$put']
>[0]['json']['value'];

/** The typed routes of one thread's database, as `caller`. */
async function threadDb(caller: Caller) {
  const thread_id = await newThread(caller);
  const routes = caller.edge.v1.threads[':thread_id'].db;
  return {
    thread_id,
    all: () => routes.$get({ param: { thread_id } }),
    get: (key: string) => routes[':key'].$get({ param: { thread_id, key } }),
    put: (key: string, value: DbValue) => routes[':key'].$put({ param: { thread_id, key }, json: { value } }),
  };
}

const CART = { cart: [1, 2, 3], note: 'ünïcödé', nested: { ok: true, n: null } };

describe('thread database', () => {
  const gw = testGateway();

  it('answers an empty database with {}', async () => {
    const db = await threadDb(await gw.caller('acme'));
    const empty = await db.all();
    expect(empty.status).toBe(200);
    expectAuthenticatedHeaders(empty);
    expect(await empty.json()).toEqual({});
  });

  it('puts a key and answers with the key and value stored', async () => {
    const db = await threadDb(await gw.caller('acme'));
    const put = await db.put('cart', CART);
    expect(put.status).toBe(200);
    expectAuthenticatedHeaders(put);
    expect(await put.json()).toEqual({ key: 'cart', value: CART });
  });

  it('gets one key back exactly the way it was put', async () => {
    const db = await threadDb(await gw.caller('acme'));
    await db.put('cart', CART);
    expect((await db.put('count', 7)).status).toBe(200);
    const one = await db.get('cart');
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(CART);
    expect(await (await db.get('count')).json()).toBe(7);
  });

  it('gets all keys at once', async () => {
    const db = await threadDb(await gw.caller('acme'));
    await db.put('cart', CART);
    await db.put('count', 7);
    expect(await (await db.all()).json()).toEqual({ cart: CART, count: 7 });
  });

  it('overwrites a key', async () => {
    const db = await threadDb(await gw.caller('acme'));
    await db.put('count', 7);
    await db.put('count', 'eight');
    expect(await (await db.get('count')).json()).toBe('eight');
  });

  it('answers an absent key with 404', async () => {
    const db = await threadDb(await gw.caller('acme'));
    const body = await expectError(await db.get('absent_key'), 404, 'NOT_FOUND');
    expect(body.detail).not.toContain('absent_key');
  });

  it('accepts a value of exactly 64 KiB', async () => {
    const db = await threadDb(await gw.caller('acme'));
    // A JSON string of n characters serializes to n + 2 bytes.
    const atLimit = 'x'.repeat(KIB_64 - 2);
    expect((await db.put('at_limit', atLimit)).status).toBe(200);
    expect(await (await db.get('at_limit')).json()).toBe(atLimit);
  });

  it('refuses a value one byte over 64 KiB, or far over, with 413 before the upstream', async () => {
    const db = await threadDb(await gw.caller('acme'));
    const watch = await watchUpstream(gw.emulator);
    const over = await db.put('over_limit', `${'x'.repeat(KIB_64 - 2)}x`);
    await expectError(over, 413, 'PAYLOAD_TOO_LARGE', 'value');
    // A body far over the limit is refused by the body limit itself.
    await expectError(await db.put('huge', 'y'.repeat(300 * 1024)), 413, 'PAYLOAD_TOO_LARGE', 'value');
    await watch.expectNone();
    await expectError(await db.get('over_limit'), 404, 'NOT_FOUND');
  });

  it('validates the body before any upstream call', async () => {
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
    await watch.expectNone();
  });

  it('validates the key before any upstream call', async () => {
    const dave = await gw.caller('acme');
    const threadId = await newThread(dave);
    const db = `/v1/threads/${threadId}/db`;
    const watch = await watchUpstream(gw.emulator);
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
    const db = erin.edge.v1.threads[':thread_id'].db;
    const thread_id = 'thread_404';
    const watch = await watchUpstream(gw.emulator);
    await expectError(await db.$get({ param: { thread_id } }), 404, 'NOT_FOUND');
    await expectError(await db[':key'].$get({ param: { thread_id, key: 'k' } }), 404, 'NOT_FOUND');
    await expectError(
      await db[':key'].$put({ param: { thread_id, key: 'k' }, json: { value: 1 } }),
      404,
      'NOT_FOUND',
    );
    await watch.expectNone();
  });
});
