import { createMiddleware } from 'hono/factory';
import { BoundedMap } from '../bounded-map';
import type { Config } from '../config';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { type BucketPolicy, type BucketState, take } from '../limits/bucket';
import { log } from '../log';

/**
 * The operator's gate to `/admin/v1` (contract section 6): `Authorization: Bearer <key>`,
 * where the Worker holds only SHA-256 digests of the keys (`ADMIN_KEY_HASHES`). The
 * presented key is hashed and compared with every digest in constant time, so a wrong
 * key costs what a right one does and the time tells nothing about either. A session
 * token is not a key: it is refused like any wrong one. No CORS: browsers of other
 * origins cannot read an answer, and the dashboard is served from this origin.
 */

const encoder = new TextEncoder();
/** Compared against when no key is configured, so the cost is the same. */
const NO_KEY = new Uint8Array(32);
const MAX_HEADER = 1024;
const BEARER = /^bearer +([\x21-\x7e]{1,512})$/i;

/**
 * The admin API's own rate limits, per isolate: per operator key, and for wrong keys per
 * client address (a script that lost its key slows down instead of costing D1 reads).
 */
const OPERATOR_POLICY: BucketPolicy = { capacity: 120, perMinute: 240 };
const FAILURE_POLICY: BucketPolicy = { capacity: 60, perMinute: 60 };
const buckets = new BoundedMap<string, BucketState>(10_000);

const digestsOf = new WeakMap<Config, Uint8Array[]>();

function keyDigests(config: Config): Uint8Array[] {
  let digests = digestsOf.get(config);
  if (!digests) {
    digests = config.adminKeyDigests.map(
      (hex) => new Uint8Array(hex.match(/../g)?.map((byte) => Number.parseInt(byte, 16)) ?? []),
    );
    digestsOf.set(config, digests);
  }
  return digests;
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Takes one token of `key`'s bucket; the 429 when it has none. */
function limit(key: string, policy: BucketPolicy, detail: string): void {
  const result = take(buckets.get(key), policy, Date.now());
  if (!result.allowed) throw new ApiError('RATE_LIMITED', detail, { retryAfter: result.retryAfter });
  buckets.set(key, result.state);
}

/**
 * Authenticates the operator and sets `operator` (the first 12 hex of the key's digest:
 * what the audit trail names). `401 UNAUTHORIZED` for a missing or wrong key, `429` over
 * the admin rate limit.
 */
export function adminAuth() {
  return createMiddleware<AppEnv>(async function adminAuth(c, next) {
    const header = c.req.header('Authorization') ?? '';
    const match = header.length <= MAX_HEADER ? BEARER.exec(header) : null;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(match?.[1] ?? '')));
    const known = keyDigests(c.get('config'));
    let matched = false;
    // Every digest is compared, whatever the outcome of the ones before.
    for (const candidate of known.length > 0 ? known : [NO_KEY]) {
      matched = crypto.subtle.timingSafeEqual(digest, candidate) || matched;
    }
    if (!match || known.length === 0 || !matched) {
      const client = c.req.header('cf-connecting-ip') ?? 'local';
      log('warn', 'admin key refused', { request_id: c.get('requestId'), configured: known.length > 0 });
      limit(`fail:${client}`, FAILURE_POLICY, 'Too many requests with a wrong operator key.');
      throw new ApiError('UNAUTHORIZED', 'A valid operator key is required.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin"' },
      });
    }
    const operator = toHex(digest).slice(0, 12);
    limit(`key:${operator}`, OPERATOR_POLICY, 'Too many admin requests; slow down.');
    c.set('operator', operator);
    await next();
  });
}
