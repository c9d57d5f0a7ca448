import { createMiddleware } from 'hono/factory';
import { checkTimes, denied, type VerifiedToken, verifyToken } from '../auth/verify';
import { BoundedMap } from '../bounded-map';
import type { Config } from '../config';
import type { AppEnv } from '../env';

/** Tokens whose signature this isolate already checked, per configuration (so per secret and issuer). */
const verifiedTokens = new WeakMap<Config, BoundedMap<string, VerifiedToken>>();
const MAX_VERIFIED = 10_000;
const MAX_HEADER = 4096;
// RFC 9110: the scheme is case-insensitive and followed by one or more spaces.
const BEARER = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

function verified(config: Config): BoundedMap<string, VerifiedToken> {
  let cache = verifiedTokens.get(config);
  if (!cache) {
    cache = new BoundedMap(MAX_VERIFIED);
    verifiedTokens.set(config, cache);
  }
  return cache;
}

/**
 * The verified token, from this isolate's cache or checked now and remembered: a
 * frontend sends the same token many times, and a signature under a given key never
 * changes. IdP tokens are remembered only while their key set is fresh.
 */
async function verifiedToken(config: Config, token: string, nowMs: number): Promise<VerifiedToken> {
  const cache = verified(config);
  const hit = cache.get(token);
  if (hit && nowMs < hit.until) return hit;
  const result = await verifyToken(config, token);
  cache.set(token, result);
  return result;
}

/**
 * Authenticates an end user by the JWT in `Authorization: Bearer` (scheme in any case):
 * HS256 signed with one of the tenant's secrets (`session_secret`, or `auth.hs256` by
 * `kid`) and carrying `tenant`, or signed by a tenant's IdP (`auth.jwks`, tenant by
 * `iss`/`aud`). `exp` required, at most 24 h ahead and after `iat`; `nbf`/`iat` with 30 s
 * of skew (src/auth/verify.ts). Sets `tenant` and `user`. Never reads a token from the
 * query string; refuses webhook signatures, which belong to webhook routes only. Runs
 * before any limiter, so a 401 costs no quota. IdP keys that cannot be had: 503
 * `AUTH_UNAVAILABLE`.
 */
export function sessionAuth() {
  return createMiddleware<AppEnv>(async function sessionAuth(c, next) {
    if (c.req.header('webhook-signature') !== undefined || c.req.header('webhook-id') !== undefined) {
      throw denied('Webhook signatures are accepted on webhook routes only.');
    }
    const header = c.req.header('Authorization');
    // A token is a few hundred bytes to a few KB; a huge one is refused before any work.
    if (header && header.length > MAX_HEADER) throw denied('The bearer token is too large.');
    const match = header?.match(BEARER);
    if (!match?.[1]) throw denied('A bearer session token is required.');

    const now = Date.now();
    const token = await verifiedToken(c.get('config'), match[1], now);
    checkTimes(token.times, Math.floor(now / 1000));
    c.set('tenant', token.tenant);
    c.set('user', token.user);
    await next();
  });
}
