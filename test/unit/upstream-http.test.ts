import { describe, expect, it } from 'vitest';
import { buildHeaders, buildUrl, UpstreamCallError } from '../../src/upstream/http';
import { readJwtClaims, tokenTimes } from '../../src/upstream/jwt-exp';

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function jwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}.c2ln`;
}

describe('buildUrl', () => {
  const base = 'https://api.example';

  it('encodes every segment, adds the trailing slash and the query', () => {
    expect(buildUrl(base, { path: ['threads'], trailingSlash: true })).toBe('https://api.example/threads/');
    expect(buildUrl(`${base}/`, { path: ['db', 'proj_1', 'a/b?c#d'] })).toBe(
      'https://api.example/db/proj_1/a%2Fb%3Fc%23d',
    );
    expect(
      buildUrl(base, {
        path: ['threads', 't1', 'messages'],
        query: { limit: 10, before: undefined, x: 'a&b' },
      }),
    ).toBe('https://api.example/threads/t1/messages?limit=10&x=a%26b');
  });

  it('refuses empty, dot and dot-dot segments', () => {
    for (const bad of ['', '.', '..']) {
      expect(() => buildUrl(base, { path: ['threads', bad] })).toThrow(UpstreamCallError);
    }
    expect(() => buildUrl(base, { path: [] })).toThrow(UpstreamCallError);
  });
});

describe('buildHeaders', () => {
  it('sets only allow-listed headers', () => {
    const headers = buildHeaders({
      token: 't0k',
      accept: 'application/json',
      json: true,
      requestId: 'req-1',
    });
    expect([...headers.keys()].sort()).toEqual(['accept', 'authorization', 'content-type', 'x-request-id']);
    expect(headers.get('authorization')).toBe('Bearer t0k');
    expect([...buildHeaders({ accept: 'text/event-stream', json: false }).keys()]).toEqual(['accept']);
  });
});

describe('token times', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const nowS = now / 1000;

  it('reads exp/iat from a JWT payload and ignores anything else', () => {
    expect(readJwtClaims(jwt({ exp: nowS + 60, iat: nowS }))).toEqual({ exp: nowS + 60, iat: nowS });
    expect(readJwtClaims('proj_token_opaque')).toEqual({});
    expect(readJwtClaims('a.!!!.c')).toEqual({});
    expect(readJwtClaims(jwt({ exp: 'tomorrow' }))).toEqual({});
  });

  it('refreshes at expiresAt − min(5 min, lifetime / 2)', () => {
    const hour = tokenTimes(jwt({ iat: nowS, exp: nowS + 3600 }), undefined, now);
    expect(hour).toEqual({ expiresAt: now + 3600_000, refreshAt: now + 3600_000 - 300_000 });
    const short = tokenTimes(jwt({ iat: nowS, exp: nowS + 4 }), 4, now);
    expect(short).toEqual({ expiresAt: now + 4_000, refreshAt: now + 2_000 });
  });

  it('falls back to expires_in, then to an hour', () => {
    expect(tokenTimes('opaque', 120, now)).toEqual({ expiresAt: now + 120_000, refreshAt: now + 60_000 });
    expect(tokenTimes('opaque', undefined, now)).toEqual({
      expiresAt: now + 3600_000,
      refreshAt: now + 3300_000,
    });
  });

  it('anchors the lifetime at now when exp disagrees with this clock', () => {
    const skewed = tokenTimes(jwt({ iat: nowS - 7200, exp: nowS - 3600 }), 3600, now);
    expect(skewed.refreshAt).toBeGreaterThan(now);
    expect(skewed.expiresAt).toBe(now + 3600_000);
  });
});
