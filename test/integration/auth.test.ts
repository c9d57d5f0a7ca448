import { sign } from 'hono/jwt';
import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { b64urlJson, expectError, nowSeconds, watchUpstream } from '../helpers/assertions';
import { sessionToken, testGateway } from '../helpers/gateway';

const ACME_SECRET = TENANTS.acme.session_secret;

describe('session authentication', () => {
  const gw = testGateway();
  const acme = gw.ids.acme ?? '';

  /** Every bad credential is a 401 with the contract's body and no upstream call. */
  async function expect401(headers: Record<string, string>, path = '/v1/threads'): Promise<void> {
    const res = await gw.fetch(path, { headers });
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    await expectError(res, 401, 'UNAUTHORIZED');
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('accepts a good token (the baseline the failures are measured against)', async () => {
    const alice = await gw.caller('acme');
    expect((await alice.edge.v1.threads.$get()).status).toBe(200);
  });

  it('refuses a missing or malformed Authorization header', async () => {
    const watch = await watchUpstream(gw.emulator);
    const good = await sessionToken(ACME_SECRET, { tenant: acme, sub: 'alice' });
    await expect401({});
    await expect401({ authorization: good });
    await expect401({ authorization: `Basic ${btoa('alice:pw')}` });
    await expect401({ authorization: 'Bearer ' });
    await expect401({ authorization: 'Bearer not-a-jwt' });
    await expect401({ authorization: `Bearer ${good}.extra` });
    await watch.expectNone();
  });

  it('refuses expired, not-yet-valid and over-long tokens', async () => {
    const watch = await watchUpstream(gw.emulator);
    const now = nowSeconds();
    const claims = { tenant: acme, sub: 'alice' };
    await expect401(bearer(await sessionToken(ACME_SECRET, { ...claims, iat: now - 120, exp: now - 60 })));
    await expect401(bearer(await sign({ ...claims, iat: now }, ACME_SECRET, 'HS256')));
    await expect401(bearer(await sessionToken(ACME_SECRET, { ...claims, exp: now + 25 * 3600 })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { ...claims, nbf: now + 3600 })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { ...claims, iat: now + 3600 })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { ...claims, exp: 'tomorrow' })));
    await watch.expectNone();
  });

  it('refuses any algorithm but HS256 and any other key', async () => {
    const watch = await watchUpstream(gw.emulator);
    const claims = { tenant: acme, sub: 'alice', exp: nowSeconds() + 600 };
    const payload = b64urlJson(claims);
    const none = b64urlJson({ alg: 'none', typ: 'JWT' });
    await expect401(bearer(`${none}.${payload}.`));
    await expect401(bearer(`${none}.${payload}.AAAA`));
    await expect401(bearer(await sessionToken(ACME_SECRET, claims, 'HS512')));
    await expect401(bearer(await sessionToken('a-completely-different-secret-0123456789ab', claims)));
    // globex's secret cannot mint acme tokens.
    await expect401(bearer(await sessionToken(TENANTS.globex.session_secret, claims)));
    // A header that says HS256 over an HS512 signature.
    const hs512 = await sessionToken(ACME_SECRET, claims, 'HS512');
    const forged = `${b64urlJson({ alg: 'HS256', typ: 'JWT' })}.${hs512.split('.').slice(1).join('.')}`;
    await expect401(bearer(forged));
    await watch.expectNone();
  });

  it('refuses unknown tenants and bad subjects', async () => {
    const watch = await watchUpstream(gw.emulator);
    await expect401(bearer(await sessionToken(ACME_SECRET, { tenant: 'nope', sub: 'alice' })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { tenant: 'acme', sub: 'alice' })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { sub: 'alice' })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { tenant: acme, sub: '' })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { tenant: acme, sub: 'x'.repeat(129) })));
    await expect401(bearer(await sessionToken(ACME_SECRET, { tenant: acme })));
    await watch.expectNone();
  });

  it('never reads a token from the query string', async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const name of ['token', 'access_token', 'authorization', 'jwt']) {
      const res = await gw.fetch(`/v1/threads?${name}=${alice.token}`);
      await expectError(res, 401, 'UNAUTHORIZED');
    }
    await watch.expectNone();
  });

  it('guards every safe route', async () => {
    const watch = await watchUpstream(gw.emulator);
    const routes: [string, string][] = [
      ['GET', '/v1/assistants'],
      ['POST', '/v1/threads'],
      ['GET', '/v1/threads'],
      ['GET', '/v1/threads/thread_1'],
      ['DELETE', '/v1/threads/thread_1'],
      ['GET', '/v1/threads/thread_1/messages'],
      ['POST', '/v1/threads/thread_1/messages'],
      ['GET', '/v1/threads/thread_1/db'],
      ['GET', '/v1/threads/thread_1/db/k'],
      ['PUT', '/v1/threads/thread_1/db/k'],
      ['POST', '/v1/files'],
      ['GET', '/v1/files'],
      ['DELETE', '/v1/files/file_1'],
      ['GET', '/v1/usage'],
    ];
    for (const [method, path] of routes) {
      const body = method === 'POST' || method === 'PUT' ? '{}' : undefined;
      const res = await gw.fetch(path, { method, body, headers: { 'content-type': 'application/json' } });
      await expectError(res, 401, 'UNAUTHORIZED');
    }
    await watch.expectNone();
  });

  it('refuses webhook signatures on session routes, even with a good token', async () => {
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const webhook = {
      'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
      'webhook-timestamp': String(nowSeconds()),
      'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
    };
    for (const headers of [webhook, { 'webhook-id': webhook['webhook-id'] }]) {
      const res = await alice.request('POST', '/v1/threads', { json: {}, headers });
      await expectError(res, 401, 'UNAUTHORIZED');
      await expectError(await alice.request('GET', '/v1/threads', { headers }), 401, 'UNAUTHORIZED');
    }
    await expectError(
      await alice.request('GET', '/v1/threads', {
        auth: false,
        headers: { 'webhook-signature': webhook['webhook-signature'] },
      }),
      401,
      'UNAUTHORIZED',
    );
    await watch.expectNone();
  });
});

describe('reserved subjects and token size', () => {
  it('refuses a session token whose sub is in the gateway’s reserved edge: namespace', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const forged = await sessionToken(TENANTS.acme.session_secret, {
      tenant: alice.tenant,
      sub: 'edge:automation',
    });
    const res = await alice.request('GET', '/v1/threads', { auth: forged });
    expect(res.status).toBe(401);
  });

  it('refuses an oversized bearer token before verifying it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const res = await alice.request('GET', '/v1/threads', { auth: `${alice.token}${'A'.repeat(5000)}` });
    expect(res.status).toBe(401);
  });
});
