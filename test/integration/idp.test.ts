import { generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { clearKeyCache } from '../../src/auth/jwks';
import { b64urlJson, expectError, nowSeconds, watchUpstream } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { advanceClock, idpTenant, TestIdp } from '../helpers/idp';
import { parseJson } from '../helpers/json';
import { callWorker } from '../helpers/worker';

/**
 * IdP tokens (contract section 2, `auth.jwks`) through the real Worker entry point: keys
 * made with jose in the test, published by the emulator's JWKS route. Every refusal is a
 * 401 (or 503) with no upstream call.
 */

afterEach(() => {
  vi.useRealTimers();
});

async function setup(jwks: Record<string, unknown> = {}) {
  const idp = new TestIdp();
  await idp.addKey('RS256');
  await idp.addKey('ES256');
  const gw = testGateway({ tenants: { app: idpTenant(idp, jwks) } });
  const call = (token: string, path = '/v1/threads') =>
    gw.fetch(path, { headers: { authorization: `Bearer ${token}` } });
  return { idp, gw, call };
}

async function expect401(res: Response): Promise<void> {
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  await expectError(res, 401, 'UNAUTHORIZED');
}

describe('IdP tokens: accepted', () => {
  it('accepts RS256 and ES256 tokens and acts as their sub', async () => {
    const { idp, gw, call } = await setup();
    const [rsa, ec] = idp.keys;
    const rs = await idp.sign({ aud: 'epsimo-edge', sub: 'user_rs' }, { kid: rsa?.kid });
    const es = await idp.sign({ aud: 'epsimo-edge', sub: 'user_es' }, { kid: ec?.kid });
    expect((await call(rs)).status).toBe(200);
    expect((await call(es)).status).toBe(200);

    // The sub is the user: a thread made with one token is listed for that sub only.
    const created = await gw.fetch('/v1/threads', {
      method: 'POST',
      headers: { authorization: `Bearer ${rs}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(created.status).toBe(201);
    const { thread_id } = await parseJson(created, z.object({ thread_id: z.string() }));
    const mine = await parseJson(
      await call(rs),
      z.object({ threads: z.array(z.object({ thread_id: z.string() })) }),
    );
    const theirs = await parseJson(
      await call(es),
      z.object({ threads: z.array(z.object({ thread_id: z.string() })) }),
    );
    expect(mine.threads.map((t) => t.thread_id)).toEqual([thread_id]);
    expect(theirs.threads).toEqual([]);
    // Both keys came from one fetch of the document.
    expect(await idp.fetches()).toBe(1);
  });

  it('takes the scheme word in any case', async () => {
    const { idp, gw } = await setup();
    const token = await idp.sign({ aud: 'epsimo-edge' });
    for (const scheme of ['bearer', 'BEARER', 'Bearer ']) {
      const res = await gw.fetch('/v1/threads', { headers: { authorization: `${scheme} ${token}` } });
      expect(res.status).toBe(200);
    }
  });
});

describe('IdP tokens: refused with no upstream call', () => {
  it('refuses wrong iss, wrong aud, unlisted or missing azp, expired and missing kid', async () => {
    const { idp, gw, call } = await setup({ authorized_parties: ['https://app.acme.example'] });
    const ok = { aud: 'epsimo-edge', azp: 'https://app.acme.example' };
    // The baseline every refusal differs from by one thing.
    expect((await call(await idp.sign(ok))).status).toBe(200);
    const watch = await watchUpstream(gw.emulator);
    const now = nowSeconds();
    await expect401(await call(await idp.sign({ ...ok, iss: 'https://evil.example' })));
    await expect401(await call(await idp.sign({ ...ok, iss: `${idp.origin}/` })));
    await expect401(await call(await idp.sign({ ...ok, aud: 'another-api' })));
    await expect401(await call(await idp.sign({ ...ok, aud: undefined })));
    await expect401(await call(await idp.sign({ ...ok, azp: 'https://evil.example' })));
    await expect401(await call(await idp.sign({ ...ok, azp: undefined })));
    await expect401(await call(await idp.sign({ ...ok, iat: now - 700, exp: now - 100 })));
    await expect401(await call(await idp.sign({ ...ok, exp: undefined })));
    await expect401(await call(await idp.sign(ok, { kid: null })));
    await expect401(await call(await idp.sign({ ...ok, nbf: now + 3600 })));
    await expect401(await call(await idp.sign({ ...ok, iat: now - 30 * 86400, exp: now + 600 })));
    await expect401(await call(await idp.sign({ ...ok, sub: 'x'.repeat(129) })));
    await expect401(await call(await idp.sign({ ...ok, sub: '' })));
    await expect401(await call(await idp.sign({ ...ok, sub: 'edge:automation' })));
    for (const sub of ['a\u0000b', 'a\nb', 'a\u0085', 'a\ud800', ' ', '\u3000']) {
      await expect401(await call(await idp.sign({ ...ok, sub })));
    }
    await watch.expectNone();
  });

  it('refuses alg none, HS256 signed with the public key, an RSA key under an EC alg and unlisted algs', async () => {
    const { idp, gw, call } = await setup();
    const rsa = idp.key();
    const watch = await watchUpstream(gw.emulator);
    const claims = { iss: idp.origin, aud: 'epsimo-edge', sub: 'mallory', exp: nowSeconds() + 600 };

    const none = `${b64urlJson({ alg: 'none', kid: rsa.kid })}.${b64urlJson(claims)}.`;
    await expect401(await call(none));

    // Algorithm confusion: the (public) key as an HMAC secret, with and without a tenant claim.
    const pem = new TextEncoder().encode(await idp.publicPem(rsa.kid));
    const asHmac = await idp.sign(claims, { header: { alg: 'HS256' }, with: pem });
    await expect401(await call(asHmac));
    const withTenant = await idp.sign(
      { ...claims, tenant: gw.ids.app },
      { header: { alg: 'HS256' }, with: pem },
    );
    await expect401(await call(withTenant));

    // ES256 in the header, naming the RSA key's kid (signed with some EC key).
    const stray = await generateKeyPair('ES256');
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: rsa.kid })
      .sign(stray.privateKey);
    await expect401(await call(confused));

    // PS256 is a fine algorithm, but not one this tenant lists.
    const ps = await idp.addKey('PS256');
    await expect401(await call(await idp.sign(claims, { kid: ps })));
    await watch.expectNone();
  });

  it('refuses an unknown kid after one refetch, and 100 random kids cost at most one fetch per 30 s', async () => {
    const { idp, gw, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge' }))).status).toBe(200);
    expect(await idp.fetches()).toBe(1);
    const watch = await watchUpstream(gw.emulator);
    const forged = await generateKeyPair('RS256');
    const forge = (kid: string) =>
      new SignJWT({ iss: idp.origin, aud: 'epsimo-edge', sub: 'mallory', exp: nowSeconds() + 600 })
        .setProtectedHeader({ alg: 'RS256', kid })
        .sign(forged.privateKey);

    for (let i = 0; i < 100; i++) await expect401(await call(await forge(`kid-${crypto.randomUUID()}`)));
    // The document was fetched moments ago: no refetch within 30 s of it.
    expect(await idp.fetches()).toBe(1);
    advanceClock(31);
    for (let i = 0; i < 100; i++) await expect401(await call(await forge(`kid-${crypto.randomUUID()}`)));
    expect(await idp.fetches()).toBe(2);
    await watch.expectNone();
  });
});

describe('IdP keys: a kid the document lists twice', () => {
  it('verifies with whichever key of that kid signed, and still refuses a signature by neither', async () => {
    // Two RSA keys under one kid (RFC 7517 only says kids SHOULD be distinct): jose finds
    // two candidates for such a token and leaves the choice to the caller.
    const idp = new TestIdp();
    await idp.addKey('RS256', { kid: 'shared' });
    await idp.addKey('RS256', { kid: 'shared' });
    const gw = testGateway({ tenants: { app: idpTenant(idp) } });
    const call = (token: string) =>
      gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } });
    const [first, second] = idp.keys;
    const claims = { aud: 'epsimo-edge', sub: 'twice' };
    const byFirst = await idp.sign(claims, { kid: 'shared', with: first?.privateKey });
    const bySecond = await idp.sign(
      { ...claims, sub: 'twice-2' },
      { kid: 'shared', with: second?.privateKey },
    );
    expect((await call(byFirst)).status).toBe(200);
    expect((await call(bySecond)).status).toBe(200);

    const watch = await watchUpstream(gw.emulator);
    const stray = await generateKeyPair('RS256');
    await expect401(await call(await idp.sign(claims, { kid: 'shared', with: stray.privateKey })));
    await watch.expectNone();
    expect(await idp.fetches()).toBe(1);
  });
});

describe('IdP keys: rotation, freshness and outages', () => {
  it('accepts a rotated-in key after one refetch', async () => {
    const { idp, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge' }))).status).toBe(200);
    const next = await idp.addKey('RS256');
    const token = await idp.sign({ aud: 'epsimo-edge' }, { kid: next });
    advanceClock(31);
    expect((await call(token)).status).toBe(200);
    expect(await idp.fetches()).toBe(2);
    // The old key still works (it is still published), with no further fetch.
    expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'other' }))).status).toBe(200);
    expect(await idp.fetches()).toBe(2);
  });

  it('honours Cache-Control max-age within bounds', async () => {
    const { idp, call } = await setup();
    const token = async () => idp.sign({ aud: 'epsimo-edge', sub: `u-${crypto.randomUUID()}` });
    await idp.configure({ max_age: 600 });
    expect((await call(await token())).status).toBe(200);
    advanceClock(590);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(1);
    advanceClock(20);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(2);

    // max-age=0 is raised to the 60 s floor; a day is cut to the one-hour ceiling.
    await idp.configure({ max_age: 0 });
    advanceClock(700);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(3);
    advanceClock(50);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(3);
    await idp.configure({ max_age: 86_400 });
    advanceClock(20);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(4);
    advanceClock(3590);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(4);
    advanceClock(20);
    expect((await call(await token())).status).toBe(200);
    expect(await idp.fetches()).toBe(5);
  });

  it('keeps working on cached keys while the JWKS is down or broken', async () => {
    const { idp, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge' }))).status).toBe(200);
    for (const mode of ['down', 'bad'] as const) {
      await idp.configure({ mode });
      advanceClock(3600);
      const before = await idp.fetches();
      expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: mode }))).status).toBe(200);
      // It did try (the keys were stale), and failing did not lose them.
      expect(await idp.fetches()).toBe(before + 1);
    }
  });

  it('answers 503 AUTH_UNAVAILABLE with no keys and the JWKS down or broken, with no upstream call', async () => {
    for (const mode of ['down', 'bad'] as const) {
      const { idp, gw, call } = await setup();
      await idp.configure({ mode });
      const watch = await watchUpstream(gw.emulator);
      const res = await call(await idp.sign({ aud: 'epsimo-edge' }));
      expect(res.headers.get('retry-after')).toBeTruthy();
      await expectError(res, 503, 'AUTH_UNAVAILABLE');
      // A failed fetch is not repeated by the next request straight away.
      await expectError(await call(await idp.sign({ aud: 'epsimo-edge' })), 503, 'AUTH_UNAVAILABLE');
      expect(await idp.fetches()).toBe(1);
      await watch.expectNone();
      // Back up: accepted once the backoff has passed.
      await idp.configure({ mode: 'ok' });
      advanceClock(6);
      expect((await call(await idp.sign({ aud: 'epsimo-edge' }))).status).toBe(200);
      vi.useRealTimers();
    }
  });

  it('shares fetched keys through the Cache API: a fresh isolate fetches nothing', async () => {
    const { idp, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge' }))).status).toBe(200);
    clearKeyCache();
    expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'second' }))).status).toBe(200);
    expect(await idp.fetches()).toBe(1);
  });
});

describe('IdP tenants: routing by issuer and audience', () => {
  it('picks the tenant by (iss, aud) and keeps verified tokens per configuration', async () => {
    const idp = new TestIdp();
    await idp.addKey('RS256');
    const gw = testGateway({
      tenants: {
        one: idpTenant(idp, { audience: 'api-one' }),
        two: idpTenant(idp, { audience: 'api-two' }),
      },
    });
    const created = async (aud: string | string[]) => {
      const token = await idp.sign({ aud, sub: 'same-sub' });
      const res = await gw.fetch('/v1/threads', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(201);
      return token;
    };
    const one = await created('api-one');
    const two = await created(['api-two', 'https://idp.example/userinfo']);
    // Same sub, two tenants: each sees its own thread only.
    for (const token of [one, two]) {
      const res = await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } });
      expect((await parseJson(res, z.object({ threads: z.array(z.unknown()) }))).threads).toHaveLength(1);
    }
    // Addressed to both tenants' audiences: it belongs to neither.
    const both = await idp.sign({ aud: ['api-one', 'api-two'] });
    const watch = await watchUpstream(gw.emulator);
    await expect401(await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${both}` } }));

    // Another configuration of the same tenants (TENANTS redeployed, so the registry's rows it
    // owns are replaced): the same token string, cached as verified above, is decided again.
    const changed = JSON.stringify({
      [gw.ids.one ?? '']: idpTenant(idp, { audience: 'api-three' }),
      [gw.ids.two ?? '']: idpTenant(idp, { audience: 'api-two' }),
    });
    await expect401(
      await callWorker(
        '/v1/threads',
        { headers: { authorization: `Bearer ${one}` } },
        { ...gw.overrides, TENANTS: changed },
      ),
    );
    await watch.expectNone();
  });

  it('refuses two tenants with the same issuer and audience as CONFIG_INVALID', async () => {
    const idp = new TestIdp();
    const gw = testGateway({ tenants: { one: idpTenant(idp), two: idpTenant(idp) } });
    const watch = await watchUpstream(gw.emulator);
    await expectError(await gw.fetch('/v1/assistants'), 503, 'CONFIG_INVALID');
    await watch.expectNone();
    expect(await idp.fetches()).toBe(0);
  });
});
