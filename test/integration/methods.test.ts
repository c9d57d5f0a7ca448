import { describe, expect, it } from 'vitest';
import { expectError } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';

/**
 * A known path called with a method it does not take is `405 METHOD_NOT_ALLOWED` naming
 * the methods it takes in `Allow`; a path no route has is `404`.
 */
describe('a route called with another method', () => {
  it('is 405 with Allow, for public and session paths', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const cases: [string, string, RegExp][] = [
      ['POST', '/healthz', /^GET, HEAD$/],
      ['DELETE', '/v1/usage', /^GET, HEAD$/],
      ['PUT', '/v1/threads/thread_x', /DELETE.*GET/],
      ['GET', '/v1/threads/thread_x/run', /^POST$/],
    ];
    for (const [method, path, allow] of cases) {
      const res = await alice.request(method, path);
      expect(res.headers.get('allow'), `${method} ${path}`).toMatch(allow);
      const body = await expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expect(body.detail).toContain(res.headers.get('allow') ?? '');
    }
  });

  it('is still 404 for a path no route has, whatever the method', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await alice.request(method, '/v1/nothing-here');
      expect(res.headers.get('allow')).toBeNull();
      await expectError(res, 404, 'NOT_FOUND');
    }
    await expectError(await alice.request('POST', '/v1/threads/a/b/c'), 404, 'NOT_FOUND');
  });
});
