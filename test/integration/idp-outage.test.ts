import { generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError, nowSeconds, tenantStateCalls, watchUpstream } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { advanceClock, idpTenant, TestIdp } from '../helpers/idp';

/**
 * An IdP whose JWKS is down or broken while keys are cached (contract sections 2 and 5): a
 * token whose `kid` the cached keys lack may be a key the IdP has just rotated in, so it is
 * `503 AUTH_UNAVAILABLE` (retry), not `401` (log out); tokens of cached kids keep verifying,
 * and a token refused for anything but its key stays `401`. None costs an upstream call or
 * a rate token.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** A tenant of a fresh IdP, with a small user bucket (burst 3, next token in a minute). */
async function setup() {
  const idp = new TestIdp();
  const known = await idp.addKey('RS256');
  const limits = { ...TENANTS.acme.limits, burst: 3, requests_per_minute: 1 };
  const gw = testGateway({ tenants: { app: { ...idpTenant(idp), limits } } });
  const call = (token: string) => gw.fetch('/v1/usage', { headers: { authorization: `Bearer ${token}` } });
  return { idp, gw, call, known };
}

const forged = await generateKeyPair('RS256');
/** A token signed by no key of the IdP, under `kid`. */
const forge = (iss: string, kid: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ iss, aud: 'epsimo-edge', sub: 'alice', exp: nowSeconds() + 600, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(forged.privateKey);

async function expect401(res: Response): Promise<void> {
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  await expectError(res, 401, 'UNAUTHORIZED');
}

async function expect503(res: Response): Promise<number> {
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  await expectError(res, 503, 'AUTH_UNAVAILABLE');
  return retryAfter;
}

describe('IdP JWKS down with keys cached', () => {
  for (const mode of ['down', 'bad'] as const) {
    it(`answers a rotated-in kid 503 AUTH_UNAVAILABLE while the JWKS is ${mode}, and verifies cached kids`, async () => {
      const { idp, gw, call, known } = await setup();
      // Another user warms the key cache, so alice's bucket is untouched.
      expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'warm' }))).status).toBe(200);
      expect(await idp.fetches()).toBe(1);

      // The IdP rotates in a key and its JWKS breaks at once; the throttle window has passed.
      const next = await idp.addKey('RS256');
      await idp.configure({ mode });
      advanceClock(31);
      const rotated = await idp.sign({ aud: 'epsimo-edge', sub: 'alice' }, { kid: next });
      const now = nowSeconds();
      const watch = await watchUpstream(gw.emulator);
      const calls = await tenantStateCalls(async () => {
        expect(await expect503(await call(rotated))).toBeLessThanOrEqual(30);
        expect(await idp.fetches()).toBe(2);

        // Refused for something other than the key: 401, whatever the kid.
        const ok = { aud: 'epsimo-edge', sub: 'alice' };
        const badSignature = await forge(idp.origin, known);
        await expect401(await call(badSignature));
        await expect401(await call(await idp.sign({ ...ok, iat: now - 700, exp: now - 100 })));
        await expect401(await call(await idp.sign({ ...ok, iss: 'https://evil.example' })));
        await expect401(await call(await idp.sign({ ...ok, aud: 'another-api' })));
        await expect401(await call(await forge(idp.origin, next, { iat: now - 700, exp: now - 100 })));
        await expect401(await call(await forge(idp.origin, next, { aud: 'another-api' })));
        await expect401(await call(await forge(idp.origin, next, { sub: 'edge:automation' })));

        // Within the throttle window: the same answer from the failed refetch, no new fetch.
        advanceClock(10);
        const left = await expect503(await call(rotated));
        expect(left).toBeGreaterThanOrEqual(1);
        expect(left).toBeLessThanOrEqual(21);
        await expect503(await call(await forge(idp.origin, `kid-${crypto.randomUUID()}`)));
        expect(await idp.fetches()).toBe(2);
      });
      await watch.expectNone();
      // None of the refusals asked the tenant's limiter.
      expect(calls).toEqual([]);

      // A cached kid still verifies from the cache, with no fetch.
      const res = await call(await idp.sign({ aud: 'epsimo-edge', sub: 'alice' }, { kid: known }));
      expect(res.status).toBe(200);
      // Alice's first admitted request: her bucket is full but for this one.
      expect(res.headers.get('ratelimit')).toMatch(/^"user";r=2;/);
      expect(await idp.fetches()).toBe(2);
    });
  }

  it('answers 401 again for an unknown kid once a refetch succeeds, and takes the rotated-in key', async () => {
    const { idp, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'warm' }))).status).toBe(200);
    const next = await idp.addKey('RS256');
    await idp.configure({ mode: 'down' });
    advanceClock(31);
    const rotated = await idp.sign({ aud: 'epsimo-edge', sub: 'alice' }, { kid: next });
    await expect503(await call(rotated));

    await idp.configure({ mode: 'ok' });
    advanceClock(31);
    expect((await call(rotated)).status).toBe(200);
    expect(await idp.fetches()).toBe(3);
    // The IdP's latest word says this kid does not exist: 401, and no fetch within 30 s.
    for (let i = 0; i < 20; i++) await expect401(await call(await forge(idp.origin, `kid-${i}`)));
    expect(await idp.fetches()).toBe(3);
  });

  it('costs at most one JWKS fetch per 30 s for a flood of random kids during the outage', async () => {
    const { idp, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'warm' }))).status).toBe(200);
    await idp.configure({ mode: 'down' });
    advanceClock(31);
    for (let i = 0; i < 50; i++) await expect503(await call(await forge(idp.origin, `kid-${i}`)));
    expect(await idp.fetches()).toBe(2);
    advanceClock(31);
    for (let i = 0; i < 50; i++) await expect503(await call(await forge(idp.origin, `kid-${i}`)));
    expect(await idp.fetches()).toBe(3);
  });
});

describe('IdP key rotation with the JWKS up', () => {
  it('answers tokens of a rotated-in kid that arrive while its refetch is in flight 503, never 401', async () => {
    const { idp, gw, call } = await setup();
    expect((await call(await idp.sign({ aud: 'epsimo-edge', sub: 'warm' }))).status).toBe(200);
    const next = await idp.addKey('RS256');
    advanceClock(31);
    const tokens = await Promise.all(
      Array.from({ length: 8 }, (_, i) => idp.sign({ aud: 'epsimo-edge', sub: `user-${i}` }, { kid: next })),
    );
    const watch = await watchUpstream(gw.emulator);
    // Eight users at once: the first refetches, the others must not be logged out meanwhile.
    const first = await Promise.all(tokens.map(call));
    const statuses = first.map((res) => res.status);
    expect(statuses).not.toContain(401);
    expect(statuses).toContain(200);
    for (const res of first) {
      if (res.status === 503) expect(await expect503(res)).toBe(1);
    }
    // Retried, each is served from the one refetch.
    for (const token of tokens) expect((await call(token)).status).toBe(200);
    expect(await idp.fetches()).toBe(2);
    // `/v1/usage` is answered by the gateway itself: nothing of this reached the upstream.
    await watch.expectNone();
  });
});
