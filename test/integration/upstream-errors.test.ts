/**
 * How upstream failures reach the caller (contract §5): 502, 503 and 504 with the contract's
 * body, never the upstream's text.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { CANARY_EMAIL, CANARY_INTERNAL } from '../emulator/canaries';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newThread, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** An upstream error body full of things that must not come back. */
const LEAKY_BODY = {
  error: 'Internal Server Error',
  detail: `db down at 10.0.0.7; user ${CANARY_EMAIL}; ${CANARY_INTERNAL}`,
  trace: 'Traceback (most recent call last): eyJhbGciOiJIUzI1NiJ9.e30.sig',
};

describe('upstream failures', () => {
  const gw = testGateway();
  let alice: Caller;
  let threadId: string;

  beforeEach(async () => {
    await gw.emulator.configure({ status_overrides: [], latency_ms: 0, reject_logins: false });
    alice ??= await gw.caller('acme');
    threadId ||= await newThread(alice);
  });

  it('502 when the upstream answers garbage JSON', async () => {
    await gw.emulator.configure({
      status_overrides: [
        { method: 'GET', path: `/threads/${threadId}`, status: 200, body: '{"thread_id": ' },
      ],
    });
    const res = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } });
    await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
  });

  it('502 when the upstream answers JSON of the wrong shape', async () => {
    await gw.emulator.configure({
      status_overrides: [{ method: 'GET', path: `/threads/${threadId}`, status: 200, body: { hello: 1 } }],
    });
    await expectError(
      await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } }),
      502,
      'UPSTREAM_BAD_RESPONSE',
    );
  });

  it('502 when the upstream keeps failing with 500, after bounded retries of a GET', async () => {
    await gw.emulator.configure({
      status_overrides: [{ method: 'GET', path: `/threads/${threadId}`, status: 500, body: LEAKY_BODY }],
    });
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } });
    const body = await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
    expect(body.detail).not.toMatch(/10\.0\.0\.7|Traceback|db down/);
    const attempts = (await watch.requests()).filter((r) => r.path === `/threads/${threadId}`);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length).toBeLessThanOrEqual(3);
  });

  it('502 for a failing POST, which is never retried', async () => {
    await gw.emulator.configure({
      status_overrides: [
        { method: 'POST', path: `/threads/${threadId}/messages`, status: 500, body: LEAKY_BODY },
      ],
    });
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.edge.v1.threads[':thread_id'].messages.$post({
      param: { thread_id: threadId },
      json: { content: 'hi' },
    });
    await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
    const posts = (await watch.requests()).filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
  });

  it('502 when the upstream redirects', async () => {
    await gw.emulator.configure({
      status_overrides: [
        {
          method: 'GET',
          path: `/threads/${threadId}`,
          status: 302,
          headers: { location: 'https://evil.example/steal' },
        },
      ],
    });
    await expectError(
      await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } }),
      502,
      'UPSTREAM_BAD_RESPONSE',
    );
  });

  it('503 with Retry-After when the upstream is unavailable', async () => {
    await gw.emulator.configure({
      status_overrides: [
        { path: `/threads/${threadId}*`, status: 503, body: LEAKY_BODY, headers: { 'Retry-After': '7' } },
      ],
    });
    const res = await alice.edge.v1.threads[':thread_id'].messages.$get({
      param: { thread_id: threadId },
      query: {},
    });
    expect(res.headers.get('retry-after')).toBe('7');
    await expectError(res, 503, 'UPSTREAM_UNAVAILABLE');
  });

  it('504 when the upstream itself answers 504', async () => {
    await gw.emulator.configure({
      status_overrides: [{ path: `/db/*`, status: 504, body: LEAKY_BODY }],
    });
    await expectError(
      await alice.edge.v1.threads[':thread_id'].db.$get({ param: { thread_id: threadId } }),
      504,
      'UPSTREAM_TIMEOUT',
    );
  });

  // The caller's requests below pass the gateway's validation, so an upstream 400/422 is
  // the upstream refusing what the gateway sent: contract section 5 keeps 400 (with
  // `field`) for the caller's own input and gives an unusable upstream answer 502. (This
  // test used to expect 400 VALIDATION_ERROR with the upstream's `field`: a name from the
  // upstream's request, e.g. `role`, that the caller never sent and cannot act on.)
  it('502 without a field or the upstream text when the upstream answers 400 or 422 to a valid request', async () => {
    await gw.emulator.configure({
      status_overrides: [
        {
          method: 'GET',
          path: '/threads/*',
          status: 400,
          body: { error: 'upstream says bad', detail: `internal ${CANARY_INTERNAL}`, field: 'thread_id' },
        },
        {
          method: 'PUT',
          path: `/db/*`,
          status: 422,
          body: { error: 'Validation Error', detail: `bad ${CANARY_INTERNAL}`, field: 'value' },
        },
      ],
    });
    const watch = await watchUpstream(gw.emulator);
    const read = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } });
    const readBody = await expectError(read, 502, 'UPSTREAM_BAD_RESPONSE');
    expect(readBody.detail).not.toMatch(/upstream says bad|internal/);
    // A refusal is not retried the way a 5xx is: the same request would be refused again.
    const reads = (await watch.requests()).filter((r) => r.path === `/threads/${threadId}`);
    expect(reads).toHaveLength(1);

    const res = await alice.edge.v1.threads[':thread_id'].db[':key'].$put({
      param: { thread_id: threadId, key: 'k' },
      json: { value: 1 },
    });
    const body = await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
    expect(body.detail).not.toContain('bad');
  });

  it('logs in again, transparently, when the upstream revokes its tokens', async () => {
    const before = (await gw.emulator.stats()).logins;
    await gw.emulator.revokeTokens();
    const res = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id: threadId } });
    expect(res.status).toBe(200);
    expect((await gw.emulator.stats()).logins).toBeGreaterThan(before);
  });
});

describe('upstream timeout', () => {
  it('504 when the upstream does not answer within UPSTREAM_TIMEOUT_MS, without a retry', async () => {
    const gw = testGateway({ bindings: { UPSTREAM_TIMEOUT_MS: '100' } });
    const alice = await gw.caller('acme');
    const thread_id = await newThread(alice);
    await gw.emulator.configure({ latency_ms: 1_000 });
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.edge.v1.threads[':thread_id'].$get({ param: { thread_id } });
    await expectError(res, 504, 'UPSTREAM_TIMEOUT');
    await gw.emulator.configure({ latency_ms: 0 });
    // The one abandoned attempt is logged once the emulator's delay ends; never a second one.
    const attempts = (await watch.requests()).filter((r) => r.path === `/threads/${thread_id}`);
    expect(attempts.length).toBeLessThanOrEqual(1);
  });
});

describe('upstream rate limited', () => {
  // Its own universe: an upstream 429 rightly stops the gateway's account budget until reset.
  it('503 UPSTREAM_RATE_LIMITED with Retry-After when the upstream says 429', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({
      status_overrides: [
        {
          method: 'POST',
          path: `/threads/${threadId}/messages`,
          status: 429,
          headers: { 'Retry-After': '30' },
        },
      ],
    });
    const res = await alice.edge.v1.threads[':thread_id'].messages.$post({
      param: { thread_id: threadId },
      json: { content: 'hi' },
    });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(res, 503, 'UPSTREAM_RATE_LIMITED');
  });
});

describe('upstream login refused', () => {
  const gw = testGateway();

  it('503 with Retry-After for a create, and only logins reach the upstream', async () => {
    await gw.emulator.configure({ reject_logins: true });
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.edge.v1.threads.$post({ json: {} });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(res, 503, 'UPSTREAM_UNAVAILABLE');
    const seen = await watch.requests();
    expect(seen.every((r) => r.path === '/auth/login')).toBe(true);
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(0);
  });

  it('503 for a read too', async () => {
    await gw.emulator.configure({ reject_logins: true });
    const alice = await gw.caller('acme');
    await expectError(await alice.edge.v1.assistants.$get(), 503, 'UPSTREAM_UNAVAILABLE');
  });

  it('spends no thread quota on the refused create', async () => {
    await gw.emulator.configure({ reject_logins: true });
    const alice = await gw.caller('acme');
    await expectError(await alice.edge.v1.threads.$post({ json: {} }), 503, 'UPSTREAM_UNAVAILABLE');
    expect((await usage(alice)).threads.yours).toBe(0);
  });
});
