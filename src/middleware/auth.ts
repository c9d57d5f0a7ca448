import { createMiddleware } from 'hono/factory';
import { decode, verify } from 'hono/jwt';
import { z } from 'zod';
import { type Config, TENANT_ID_PATTERN } from '../config';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

/** Clock skew tolerated for `nbf` and `iat` (seconds). */
const SKEW_SECONDS = 30;
/** The longest a session token may live from now (seconds). */
const MAX_LIFETIME_SECONDS = 24 * 3600;

const ClaimsSchema = z.object({
  tenant: z.string().regex(TENANT_ID_PATTERN),
  // `edge:` is reserved for the gateway's own users (webhook automations).
  sub: z
    .string()
    .min(1)
    .max(128)
    .refine((sub) => !sub.startsWith('edge:')),
  exp: z.number().finite(),
  iat: z.number().finite().optional(),
  nbf: z.number().finite().optional(),
});

type Claims = z.infer<typeof ClaimsSchema>;

/** Tokens whose signature this isolate already checked, per configuration (so per secret). */
const verifiedTokens = new WeakMap<Config, Map<string, Claims>>();
const MAX_VERIFIED = 10_000;
const MAX_HEADER = 4096;
const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

function verified(config: Config): Map<string, Claims> {
  let cache = verifiedTokens.get(config);
  if (!cache) {
    cache = new Map();
    verifiedTokens.set(config, cache);
  }
  return cache;
}

/**
 * Checks a token's header, claims shape, tenant and HS256 signature, and remembers the
 * result: a frontend sends the same token many times, and the signature of a given
 * string under a given secret never changes. Time claims are checked on every use.
 */
async function verifyToken(config: Config, token: string): Promise<Claims> {
  let claims: Claims;
  try {
    const decoded = decode(token);
    if (decoded.header.alg !== 'HS256') throw denied('Invalid session token.');
    claims = ClaimsSchema.parse(decoded.payload);
  } catch {
    throw denied('Invalid session token.');
  }
  const tenant = config.tenants.get(claims.tenant);
  if (!tenant) throw denied('Invalid session token.');
  try {
    await verify(token, tenant.session_secret, { alg: 'HS256', exp: false, nbf: false, iat: false });
  } catch {
    throw denied('Invalid session token.');
  }
  const cache = verified(config);
  if (cache.size >= MAX_VERIFIED) cache.clear();
  cache.set(token, claims);
  return claims;
}

const denied = (detail: string) =>
  new ApiError('UNAUTHORIZED', detail, { headers: { 'WWW-Authenticate': 'Bearer' } });

/**
 * Authenticates an end user by the session JWT in `Authorization: Bearer`, signed
 * HS256 with the tenant's `session_secret`: `alg` pinned, `exp` required and at most
 * 24 h ahead, `nbf`/`iat` honoured with 30 s of skew. Sets `tenant` and `user`.
 * Never reads a token from the query string; refuses webhook signatures, which
 * belong to webhook routes only. Runs before any limiter, so a 401 costs no quota.
 */
export function sessionAuth() {
  return createMiddleware<AppEnv>(async function sessionAuth(c, next) {
    if (c.req.header('webhook-signature') !== undefined || c.req.header('webhook-id') !== undefined) {
      throw denied('Webhook signatures are accepted on webhook routes only.');
    }
    const header = c.req.header('Authorization');
    // A session token is a few hundred bytes; a huge one is refused before any work.
    const match = header && header.length <= MAX_HEADER ? header.match(BEARER) : undefined;
    if (!match?.[1]) throw denied('A bearer session token is required.');
    const token = match[1];

    const { config } = c.var;
    const claims = verified(config).get(token) ?? (await verifyToken(config, token));
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now) throw denied('The session token has expired.');
    if (claims.exp > now + MAX_LIFETIME_SECONDS + SKEW_SECONDS) {
      throw denied('The session token lives longer than 24 hours.');
    }
    if (claims.nbf !== undefined && claims.nbf > now + SKEW_SECONDS)
      throw denied('The session token is not valid yet.');
    if (claims.iat !== undefined && claims.iat > now + SKEW_SECONDS)
      throw denied('The session token is from the future.');

    const tenant = config.tenants.get(claims.tenant);
    if (!tenant) throw denied('Invalid session token.');
    c.set('tenant', tenant);
    c.set('user', claims.sub);
    await next();
  });
}
