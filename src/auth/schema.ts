import { z } from 'zod';

/**
 * The tenant field `auth` (contract section 2): HS256 secrets by `kid`, and an IdP's JWKS.
 * Parsed as part of `TENANTS` (src/config.ts); the checks that span tenants are here too.
 */

/** Whether every value of a list is distinct. */
export const unique = (values: readonly string[]) => new Set(values).size === values.length;

/** An HS256 secret: at least 32 characters. */
export const HsSecretSchema = z.string().min(32, 'must be at least 32 characters');

/** Asymmetric JWS algorithms an IdP may sign with; `none` and `HS*` never verify an IdP token. */
export const JWKS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
  'Ed25519',
] as const;

/** An `http(s):` URL without credentials; whether `http:` is allowed is decided by `parseConfig`. */
const HttpUrlSchema = z
  .url({ protocol: /^https?$/ })
  .refine(
    (value) => !URL.parse(value)?.username && !URL.parse(value)?.password,
    'must not carry credentials',
  );

const JwksSchema = z
  .object({
    uri: HttpUrlSchema,
    issuer: z.string().min(1).max(512),
    audience: z.string().min(1).max(512).optional(),
    algorithms: z.array(z.enum(JWKS_ALGORITHMS)).min(1).default(['RS256']),
    authorized_parties: z.array(z.string().min(1).max(512)).min(1).optional(),
  })
  .strict();

/** `auth`: `hs256` (a list, so secrets rotate) and `jwks` (an IdP's keys). */
export const AuthSchema = z
  .object({
    hs256: z
      .array(
        z
          .object({
            kid: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII'),
            secret: HsSecretSchema,
          })
          .strict(),
      )
      .min(1)
      .max(8)
      .refine((keys) => unique(keys.map((k) => k.kid)), 'kids must be unique')
      .optional(),
    jwks: JwksSchema.optional(),
  })
  .strict();

/** Why an `http:` URL was refused. */
export const HTTP_PROBLEM = 'http: only for a loopback host or with LOCAL_DEV=true; use https:';

/**
 * Whether `url` may be fetched: `https:` always; `http:` only in local development,
 * which is known by the host (loopback: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`,
 * which no deployed Worker can reach anyway) or declared with `LOCAL_DEV=true` (an
 * emulator on another local host name). Plain http would expose the upstream account's
 * tokens, or let a network attacker substitute an IdP's keys.
 */
export function secureEnough(url: string, localDev: boolean): boolean {
  const parsed = URL.parse(url);
  if (!parsed) return false;
  if (parsed.protocol === 'https:') return true;
  if (parsed.protocol !== 'http:') return false;
  const host = parsed.hostname;
  return (
    localDev || host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\./.test(host)
  );
}

/** What {@link issuerIndex} reads of a tenant. */
interface IssuerTenant {
  id: string;
  auth?: { jwks?: { issuer: string; audience?: string | undefined } | undefined } | undefined;
}

/**
 * Indexes the JWKS tenants by issuer and adds a problem for every ambiguity: two tenants
 * of one issuer need distinct audiences (and both need one), or a token could not tell
 * which tenant it belongs to.
 */
export function issuerIndex<T extends IssuerTenant>(
  tenants: ReadonlyMap<string, T>,
  problems: string[],
): Map<string, T[]> {
  const index = new Map<string, T[]>();
  for (const tenant of tenants.values()) {
    const jwks = tenant.auth?.jwks;
    if (!jwks) continue;
    const same = index.get(jwks.issuer) ?? [];
    for (const other of same) {
      const audience = other.auth?.jwks?.audience;
      if (audience === undefined || jwks.audience === undefined || audience === jwks.audience) {
        problems.push(
          `TENANTS.${tenant.id}.auth.jwks: same issuer as tenant ${other.id}; each needs its own audience`,
        );
      }
    }
    same.push(tenant);
    index.set(jwks.issuer, same);
  }
  return index;
}
