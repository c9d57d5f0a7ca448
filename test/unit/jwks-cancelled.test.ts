import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clearKeyCache, keysFor } from '../../src/auth/jwks';
import { advanceClock } from '../helpers/idp';

/**
 * A JWKS refetch started by a request that is then cancelled never settles (its promise is
 * dropped with the request). It must not hold the next refetch off for the rest of the
 * interval: a token of a key the IdP has just rotated in would meanwhile be verified
 * against the old keys and refused, logging its user out.
 */

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  clearKeyCache();
});

async function jwk(kid: string) {
  const { publicKey } = await generateKeyPair('RS256');
  return { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
}

const document = (keys: object[]) =>
  new Response(JSON.stringify({ keys }), {
    headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' },
  });

describe('a JWKS refetch whose request was cancelled', () => {
  it('counts as failed past the fetch timeout: the next request refetches at once', async () => {
    const uri = `https://idp-${crypto.randomUUID()}.test/jwks`;
    const [k1, k2] = [await jwk('k1'), await jwk('k2')];
    const fetches = vi.spyOn(globalThis, 'fetch').mockResolvedValueOnce(document([k1]));
    const first = await keysFor(uri, 'k1');
    expect('kids' in first && first.kids.has('k1')).toBe(true);

    // The IdP rotates k2 in. The first request to name it starts a refetch, and is cancelled:
    // its fetch never answers.
    advanceClock(31);
    fetches.mockReturnValueOnce(new Promise<Response>(() => undefined));
    void keysFor(uri, 'k2');
    // Meanwhile another user's k2 token is told to retry, not refused.
    expect(await keysFor(uri, 'k2')).toMatchObject({ retryAfter: 1 });

    // Past the fetch's timeout, the next k2 token refetches and verifies against k2.
    advanceClock(6);
    fetches.mockResolvedValueOnce(document([k1, k2]));
    const after = await keysFor(uri, 'k2');
    expect('kids' in after && after.kids.has('k2')).toBe(true);
    expect(fetches).toHaveBeenCalledTimes(3);
  });
});
