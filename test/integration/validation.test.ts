import { describe, expect, it } from 'vitest';
import { expectError, watchUpstream } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';

/** Path ids that must be refused with 400 before any upstream call. */
const BAD_IDS = ['..%2f', '..%2F..%2Fprojects', '%0d%0a', 'a%0d%0aX-Injected:%201', 'x'.repeat(200), 'a%20b'];

// Each test has its own gateway (and so its own upstream account budget, see the last test).
describe('request validation', () => {
  it('refuses malformed JSON with 400 and no upstream call', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const body of ['{', '{"name": "x",}', 'not json', '', '[1, 2']) {
      const res = await alice.request('POST', '/v1/threads', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      const error = await expectError(res, 400, 'BAD_REQUEST');
      expect(error.detail).not.toMatch(/Unexpected|position|SyntaxError/);
    }
    await watch.expectNone();
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(0);
  });

  // @hono/zod-openapi's media-type gate throws HTTPException(415); app.ts maps it.
  it('refuses a body of the wrong media type with a 4xx, not a 500', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const cases: [string, string, string, Record<string, string>][] = [
      ['POST', '/v1/threads', '{"name":"x"}', {}],
      ['POST', '/v1/threads', '{"name":"x"}', { 'content-type': 'text/plain' }],
      ['POST', '/v1/files', '{"file":"x"}', { 'content-type': 'application/json' }],
    ];
    for (const [method, path, body, headers] of cases) {
      const res = await alice.request(method, path, { body, headers });
      expect([400, 415]).toContain(res.status);
      await expectError(res, res.status, res.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST');
    }
    await watch.expectNone();
  });

  it('names the unknown field', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const cases: [unknown, string][] = [
      [{ name: 'x', owner: 'bob' }, 'owner'],
      [{ project_id: 'proj_globex' }, 'project_id'],
      [{ name: 'x', configurable: { type: 'agent' } }, 'configurable'],
    ];
    for (const [json, field] of cases) {
      const res = await alice.request('POST', '/v1/threads', { json });
      const body = await expectError(res, 400, 'VALIDATION_ERROR', field);
      expect(body.detail).toContain(field);
    }
    await watch.expectNone();
  });

  it('names the field whose value is out of range', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const cases: [unknown, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(201) }, 'name'],
      [{ name: 42 }, 'name'],
      [{ assistant_id: '../asst' }, 'assistant_id'],
      [{ metadata: { 'bad key!': 1 } }, 'metadata'],
      [{ metadata: { note: 'x'.repeat(513) } }, 'metadata.note'],
      [{ metadata: { nested: { a: 1 } } }, 'metadata.nested'],
    ];
    for (const [json, field] of cases) {
      const res = await alice.request('POST', '/v1/threads', { json });
      await expectError(res, 400, 'VALIDATION_ERROR', new RegExp(`^${field.replace('.', '\\.')}`));
    }
    await watch.expectNone();
  });

  it('refuses ids that are not ids on every route that takes one', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const id of BAD_IDS) {
      const routes: [string, string, unknown][] = [
        ['GET', `/v1/threads/${id}`, undefined],
        ['DELETE', `/v1/threads/${id}`, undefined],
        ['GET', `/v1/threads/${id}/messages`, undefined],
        ['POST', `/v1/threads/${id}/messages`, { content: 'hi' }],
        ['GET', `/v1/threads/${id}/db`, undefined],
        ['GET', `/v1/threads/${id}/db/k`, undefined],
        ['PUT', `/v1/threads/${id}/db/k`, { value: 1 }],
      ];
      for (const [method, path, json] of routes) {
        const res = await alice.request(method, path, { json });
        await expectError(res, 400, 'VALIDATION_ERROR', 'thread_id');
      }
      const file = await alice.request('DELETE', `/v1/files/${id}`);
      await expectError(file, 400, 'VALIDATION_ERROR', 'file_id');
    }
    await watch.expectNone();
  });

  it('takes ids up to 128 characters and refuses longer ones, before the upstream', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    // 128 characters is the longest id: well-formed, so it is simply not found.
    await expectError(await alice.request('GET', `/v1/threads/${'t'.repeat(128)}`), 404, 'NOT_FOUND');
    await expectError(
      await alice.request('GET', `/v1/threads/${'t'.repeat(129)}`),
      400,
      'VALIDATION_ERROR',
      'thread_id',
    );
    await watch.expectNone();
  });

  it('answers unknown routes and methods with the contract 404', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const [method, path] of [
      ['GET', '/v1/nope'],
      ['PATCH', '/v1/threads'],
      ['GET', '/v1/projects'],
      ['GET', '/v1/threads/thread_1/run/extra'],
      ['POST', '/'],
    ] as const) {
      const res = await alice.request(method, path);
      expect([404, 405]).toContain(res.status);
      await expectError(res, res.status, res.status === 404 ? 'NOT_FOUND' : 'METHOD_NOT_ALLOWED');
    }
    await watch.expectNone();
  });

  it('refuses a JSON body over the route limit with 413', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.request('POST', '/v1/threads', { json: { name: 'x'.repeat(300 * 1024) } });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    await watch.expectNone();
  });

  it('keeps a well-formed caller request id, on successes and errors', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const given = 'trace-0123456789';
    const ok = await alice.edge.v1.threads.$get({ query: {} }, { headers: { 'x-request-id': given } });
    expect(ok.headers.get('x-request-id')).toBe(given);
    const err = await alice.request('GET', '/v1/threads/..%2f', { headers: { 'x-request-id': given } });
    expect((await expectError(err, 400, 'VALIDATION_ERROR', 'thread_id')).request_id).toBe(given);
  });

  it('replaces a malformed caller request id, never echoing it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    // Odd characters or absurd lengths: replaced, never echoed. (Lengths 1-7 and 129-255 of
    // [A-Za-z0-9_=-] are echoed: hono/request-id accepts them before app.ts's generator runs.)
    for (const bad of ['has space in it', '<script>alert(1)</script>', 'a\tb', 'a'.repeat(256)]) {
      const res = await alice.request('GET', '/v1/threads', { headers: { 'x-request-id': bad } });
      const id = res.headers.get('x-request-id');
      expect(id).toBeTruthy();
      expect(id).not.toBe(bad);
    }
  });

  it('puts a request id on /healthz too', async () => {
    const gw = testGateway();
    const health = await gw.fetch('/healthz');
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toBeTruthy();
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('lets no flood of refused requests spend the upstream budget or lock other users out', async () => {
    const gw = testGateway();
    const [mallory, alice] = await Promise.all([gw.caller('acme'), gw.caller('acme')]);
    const watch = await watchUpstream(gw.emulator);
    const statuses = new Set<number>();
    for (let i = 0; i < 80; i += 1) statuses.add((await mallory.request('GET', '/v1/threads/..%2f')).status);
    expect([...statuses]).toEqual([400]);
    await watch.expectNone();
    expect((await alice.request('GET', '/v1/assistants')).status).toBe(200);
  });
});
