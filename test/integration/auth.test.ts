import { sign } from 'hono/jwt';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { b64urlJson, expectError, nowSeconds, watchUpstream } from '../helpers/assertions';
import { sessionToken, testGateway } from '../helpers/gateway';
import { callWorker } from '../helpers/worker';

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
    expect((await alice.edge.v1.threads.$get({ query: {} })).status).toBe(200);
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

  it('refuses a sub of . or .. (the admin API could never name that user), calling nobody', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const sub of ['.', '..']) {
      const token = await sessionToken(TENANTS.acme.session_secret, { tenant: alice.tenant, sub });
      await expectError(await alice.request('GET', '/v1/threads', { auth: token }), 401, 'UNAUTHORIZED');
    }
    // A sub that merely holds dots is an ordinary id.
    const dotted = await sessionToken(TENANTS.acme.session_secret, { tenant: alice.tenant, sub: '...' });
    expect((await alice.request('GET', '/v1/threads', { auth: dotted })).status).toBe(200);
    await watch.expectNone();
  });

  it('refuses a sub holding a control character or a lone surrogate, or only whitespace, calling nobody', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const as = async (sub: string) =>
      alice.request('GET', '/v1/threads', {
        auth: await sessionToken(TENANTS.acme.session_secret, { tenant: alice.tenant, sub }),
      });
    const refused = [
      'a\nb',
      'a\u0000b',
      '\u001fa',
      'a\u007f',
      'a\u0085b',
      'a\u009f',
      'a\ud800',
      '\udc00a',
      'a\udbff\udbffb',
      ' ',
      '   ',
      '\u00a0\u3000',
    ];
    for (const sub of refused) {
      await expectError(await as(sub), 401, 'UNAUTHORIZED');
    }
    // Spaces inside (or around) a printable id, and paired surrogates, are fine; the length
    // is counted in code points: 128 emoji (256 UTF-16 units) pass, 129 do not.
    for (const sub of ['Ada Lovelace', ' ada ', 'ünïcødé', '😀', '😀'.repeat(128)]) {
      expect((await as(sub)).status).toBe(200);
    }
    await expectError(await as('😀'.repeat(129)), 401, 'UNAUTHORIZED');
    await watch.expectNone();
  });

  it('refuses an oversized bearer token before verifying it', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const res = await alice.request('GET', '/v1/threads', { auth: `${alice.token}${'A'.repeat(5000)}` });
    // Told what is wrong with it, not that none was sent.
    const body = await expectError(res, 401, 'UNAUTHORIZED');
    expect(body.detail).toBe('The bearer token is too large.');
    await watch.expectNone();
  });
});

describe('HS256 secrets by kid (rotation without a flag day)', () => {
  const OLD = 'old-session-secret-0123456789abcdef0123456789';
  const NEW = 'new-session-secret-0123456789abcdef0123456789';
  const NEXT = 'next-session-secret-0123456789abcdef012345678';
  const tenant = (auth: unknown, extra: Record<string, unknown> = {}) => ({
    project_id: 'proj_acme',
    assistants: ['asst_support'],
    auth,
    ...extra,
  });
  const signed = (secret: string, claims: Record<string, unknown>, kid?: string) => {
    const now = nowSeconds();
    return new SignJWT({ iat: now, exp: now + 600, ...claims })
      .setProtectedHeader(
        kid === undefined ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid },
      )
      .sign(new TextEncoder().encode(secret));
  };

  it('accepts the old and the new kid while both are listed, and session_secret tokens without a kid', async () => {
    const gw = testGateway({
      tenants: {
        acme: tenant(
          {
            hs256: [
              { kid: '2026-12', secret: NEW },
              { kid: '2027-01', secret: NEXT },
            ],
          },
          { session_secret: OLD },
        ),
      },
    });
    const claims = { tenant: gw.ids.acme, sub: 'alice' };
    const call = async (token: string) =>
      (await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await call(await signed(OLD, claims))).toBe(200);
    expect(await call(await signed(NEW, claims, '2026-12'))).toBe(200);
    expect(await call(await signed(NEXT, claims, '2027-01'))).toBe(200);

    const watch = await watchUpstream(gw.emulator);
    // A kid picks exactly one secret: the wrong pairing, an unknown kid, or no kid for a listed secret.
    expect(await call(await signed(NEXT, claims, '2026-12'))).toBe(401);
    expect(await call(await signed(NEW, claims, '2025-01'))).toBe(401);
    expect(await call(await signed(NEW, claims))).toBe(401);
    expect(await call(await signed(OLD, claims, '2026-12'))).toBe(401);
    await watch.expectNone();
  });

  it('refuses a retired kid once it is no longer listed', async () => {
    const both = testGateway({
      tenants: {
        acme: tenant({
          hs256: [
            { kid: 'a', secret: OLD },
            { kid: 'b', secret: NEW },
          ],
        }),
      },
    });
    const claims = { tenant: both.ids.acme, sub: 'alice' };
    const token = await signed(OLD, claims, 'a');
    expect((await both.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
    // The same tenant id after rotation (a new configuration): the old kid is gone.
    const registry = JSON.stringify({
      [both.ids.acme ?? '']: tenant({ hs256: [{ kid: 'b', secret: NEW }] }),
    });
    const res = await callWorker(
      '/v1/threads',
      { headers: { authorization: `Bearer ${token}` } },
      { ...both.overrides, TENANTS: registry },
    );
    await expectError(res, 401, 'UNAUTHORIZED');
  });

  it('refuses a token whose exp is more than 24 h after its iat, even when exp is near', async () => {
    const gw = testGateway();
    const watch = await watchUpstream(gw.emulator);
    const now = nowSeconds();
    const claims = { tenant: gw.ids.acme, sub: 'alice' };
    // Issued 29.5 days ago, 30 days of life: within 24 h of expiring, still refused.
    const long = await sessionToken(ACME_SECRET, {
      ...claims,
      iat: now - 29.5 * 86400,
      exp: now + 12 * 3600,
    });
    const res = await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${long}` } });
    await expectError(res, 401, 'UNAUTHORIZED');
    const day = await sessionToken(ACME_SECRET, { ...claims, iat: now - 3600, exp: now - 3600 + 86400 });
    expect((await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${day}` } })).status).toBe(200);
    await watch.expectNone();
  });

  it('takes the Bearer scheme word in any case', async () => {
    const alice = await testGateway().caller('acme');
    for (const scheme of ['bearer', 'BEARER', 'bEaReR', 'Bearer  ']) {
      const res = await alice.request('GET', '/v1/threads', {
        auth: false,
        headers: { authorization: `${scheme} ${alice.token}` },
      });
      expect(res.status).toBe(200);
    }
    const res = await alice.request('GET', '/v1/threads', {
      auth: false,
      headers: { authorization: `Bearer-ish ${alice.token}` },
    });
    await expectError(res, 401, 'UNAUTHORIZED');
  });
});
