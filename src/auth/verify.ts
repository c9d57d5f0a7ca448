import { type CompactVerifyGetKey, compactVerify, decodeJwt, decodeProtectedHeader, errors } from 'jose';
import { z } from 'zod';
import type { Config } from '../config';
import { ApiError } from '../errors';
import { log } from '../log';
import { hs256Keys, TENANT_ID_PATTERN, type Tenant } from '../tenant';
import { keysFor, MAX_KEYS } from './jwks';
import { JWKS_ALGORITHMS } from './schema';
import { SubjectSchema } from './subject';

/**
 * Signature and claims of the two kinds of end-user tokens (contract section 2): HS256
 * tokens a tenant's backend signs (`tenant` claim; `kid` picks the secret) and an IdP's
 * tokens verified with its JWKS (tenant picked by `iss`/`aud`). Time claims are not
 * checked here but on every use ({@link checkTimes}), since results are cached.
 */

/** Clock skew tolerated for `nbf` and `iat` (seconds). */
export const SKEW_SECONDS = 30;
/** The longest a token may live, from now and from its `iat` (seconds). */
export const MAX_LIFETIME_SECONDS = 24 * 3600;

const time = z.number().finite();

const TimesSchema = z.object({ exp: time, iat: time.optional(), nbf: time.optional() });
const SessionClaimsSchema = TimesSchema.extend({
  tenant: z.string().regex(TENANT_ID_PATTERN),
  sub: SubjectSchema,
});
const AudienceSchema = z.union([z.string(), z.array(z.string()).max(32)]).optional();
/** What picks an IdP token's tenant, read before the signature is checked (and again after). */
const RoutingSchema = z.object({ iss: z.string().max(512), aud: AudienceSchema });
const IdpClaimsSchema = TimesSchema.extend({
  iss: z.string(),
  aud: AudienceSchema,
  azp: z.string().optional(),
  sub: SubjectSchema,
});

export type TimeClaims = z.infer<typeof TimesSchema>;

/** A token whose signature and claims checked out; `until` (ms) bounds how long that may be remembered. */
export interface VerifiedToken {
  tenant: Tenant;
  user: string;
  times: TimeClaims;
  until: number;
}

/** The one 401 of session routes; the detail never says which tenant or key was tried. */
export const denied = (detail: string) =>
  new ApiError('UNAUTHORIZED', detail, { headers: { 'WWW-Authenticate': 'Bearer' } });

const INVALID = 'Invalid session token.';

/** Verifies `token`'s signature and claims for whichever tenant it belongs to; throws 401 or 503. */
export async function verifyToken(config: Config, token: string): Promise<VerifiedToken> {
  let alg: unknown;
  let kid: unknown;
  try {
    ({ alg, kid } = decodeProtectedHeader(token));
  } catch {
    throw denied(INVALID);
  }
  if (typeof alg !== 'string') throw denied(INVALID);
  if (alg === 'HS256') return verifyHs256(config, token, kid);
  if (!isJwksAlgorithm(alg)) throw denied(INVALID);
  return verifyIdp(config, token, alg, kid);
}

const isJwksAlgorithm = (alg: string): alg is (typeof JWKS_ALGORITHMS)[number] =>
  JWKS_ALGORITHMS.some((known) => known === alg);

/** Decoded, not verified: only to find the tenant and secret whose signature is then required. */
function unverifiedPayload(token: string): unknown {
  try {
    return decodeJwt(token);
  } catch {
    throw denied(INVALID);
  }
}

const encoder = new TextEncoder();

async function verifyHs256(config: Config, token: string, kid: unknown): Promise<VerifiedToken> {
  const routed = SessionClaimsSchema.safeParse(unverifiedPayload(token));
  if (!routed.success) throw denied(INVALID);
  const tenant = config.tenants.get(routed.data.tenant);
  // No `kid`: the tenant's `session_secret`; with one: the `auth.hs256` entry of that kid.
  const key = tenant ? hs256Keys(tenant).find((k) => k.kid === kid) : undefined;
  if (!tenant || !key) throw denied(INVALID);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, encoder.encode(key.secret), { algorithms: ['HS256'] }));
  } catch {
    throw denied(INVALID);
  }
  const claims = SessionClaimsSchema.safeParse(parseJson(payload));
  if (!claims.success || claims.data.tenant !== tenant.id) throw denied(INVALID);
  const { exp, iat, nbf, sub } = claims.data;
  return { tenant, user: sub, times: { exp, iat, nbf }, until: Number.POSITIVE_INFINITY };
}

const audiences = (aud: string | string[] | undefined): string[] =>
  aud === undefined ? [] : typeof aud === 'string' ? [aud] : aud;

/** The one tenant whose issuer is `iss` and whose audience (when set) is in `aud`. */
function idpTenant(config: Config, iss: string, aud: string | string[] | undefined): Tenant | undefined {
  const listed = audiences(aud);
  const matches = (config.issuers.get(iss) ?? []).filter((tenant) => {
    const audience = tenant.auth?.jwks?.audience;
    return audience === undefined || listed.includes(audience);
  });
  // Two matches (a token addressed to two tenants' audiences) belong to neither.
  return matches.length === 1 ? matches[0] : undefined;
}

async function verifyIdp(config: Config, token: string, alg: string, kid: unknown): Promise<VerifiedToken> {
  const unverified = unverifiedPayload(token);
  const routing = RoutingSchema.safeParse(unverified);
  const tenant = routing.success ? idpTenant(config, routing.data.iss, routing.data.aud) : undefined;
  const jwks = tenant?.auth?.jwks;
  if (!tenant || !jwks) throw denied(INVALID);
  if (!jwks.algorithms.some((allowed) => allowed === alg)) throw denied(INVALID);
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) throw denied(INVALID);
  // Claims that fail are refused before the keys are looked for: such a token is 401 whether
  // its signature is good or not, even while the IdP's keys cannot be had.
  checkTimes(idpClaims(jwks, unverified), Math.floor(Date.now() / 1000));

  const keys = await keysFor(jwks.uri, kid);
  if (!('resolve' in keys)) {
    // A warning: a routine key rotation answers this for a second, and a flood of unknown
    // kids during an outage answers it to each; the failed fetch itself is logged where it fails.
    log('warn', 'idp keys unavailable', { tenant: tenant.id, origin: new URL(jwks.uri).origin });
    throw new ApiError('AUTH_UNAVAILABLE', 'The identity provider’s keys cannot be had right now.', {
      retryAfter: keys.retryAfter,
    });
  }
  let payload: Uint8Array;
  try {
    payload = await verifyWithAny(token, keys.resolve, jwks.algorithms);
  } catch {
    throw denied(INVALID);
  }
  const { sub, ...times } = idpClaims(jwks, parseJson(payload));
  // Remembered only while these keys are fresh: a key the IdP withdraws stops working then.
  return { tenant, user: sub, times, until: keys.freshUntil };
}

/**
 * The payload of `token` signed by one of the keys `resolve` picks. RFC 7517 (4.5) only says
 * kids SHOULD be distinct: when the document has several keys of the token's `kid` and key
 * type, jose refuses (`JWKSMultipleMatchingKeys`) and hands over the candidates, which are
 * tried in turn (at most a document's {@link MAX_KEYS}); one that verifies wins.
 */
async function verifyWithAny(
  token: string,
  resolve: CompactVerifyGetKey,
  algorithms: string[],
): Promise<Uint8Array> {
  try {
    return (await compactVerify(token, resolve, { algorithms })).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let tried = 0;
    for await (const key of error) {
      if (++tried > MAX_KEYS) break;
      try {
        return (await compactVerify(token, key, { algorithms })).payload;
      } catch {
        // Another candidate may be the one.
      }
    }
    throw error;
  }
}

type IdpJwks = NonNullable<NonNullable<Tenant['auth']>['jwks']>;

/** The claims of an IdP token for `jwks`: `iss`, `aud`, `azp` and `sub` checked; else 401. */
function idpClaims(jwks: IdpJwks, payload: unknown): TimeClaims & { sub: string } {
  const claims = IdpClaimsSchema.safeParse(payload);
  if (!claims.success || claims.data.iss !== jwks.issuer) throw denied(INVALID);
  const { aud, azp, exp, iat, nbf, sub } = claims.data;
  if (jwks.audience !== undefined && !audiences(aud).includes(jwks.audience)) throw denied(INVALID);
  if (jwks.authorized_parties && (azp === undefined || !jwks.authorized_parties.includes(azp))) {
    throw denied(INVALID);
  }
  return { exp, iat, nbf, sub };
}

function parseJson(payload: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(payload));
  } catch {
    return undefined;
  }
}

/**
 * The time rules, checked on every use of a token: `exp` required and in the future, at
 * most 24 h ahead (plus skew) and at most 24 h after `iat`; `nbf` and `iat` not in the
 * future beyond the skew.
 */
export function checkTimes(times: TimeClaims, nowSeconds: number): void {
  const { exp, iat, nbf } = times;
  if (exp <= nowSeconds) throw denied('The session token has expired.');
  if (
    exp > nowSeconds + MAX_LIFETIME_SECONDS + SKEW_SECONDS ||
    (iat !== undefined && exp - iat > MAX_LIFETIME_SECONDS)
  ) {
    throw denied('The session token lives longer than 24 hours.');
  }
  if (nbf !== undefined && nbf > nowSeconds + SKEW_SECONDS)
    throw denied('The session token is not valid yet.');
  if (iat !== undefined && iat > nowSeconds + SKEW_SECONDS)
    throw denied('The session token is from the future.');
}
