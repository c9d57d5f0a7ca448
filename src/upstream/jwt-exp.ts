import { z } from 'zod';

/** Lifetime assumed for a token that states none (seconds). */
export const DEFAULT_TOKEN_LIFETIME_S = 3600;

/** Tokens are refreshed this long before they expire, or at half their lifetime if shorter. */
export const MAX_REFRESH_MARGIN_MS = 5 * 60_000;

const ClaimsSchema = z.object({
  exp: z.number().finite().optional().catch(undefined),
  iat: z.number().finite().optional().catch(undefined),
});

/** The `exp`/`iat` claims (epoch seconds) of a JWT's payload; empty if it is not a readable JWT. */
export function readJwtClaims(token: string): { exp?: number; iat?: number } {
  const payload = token.split('.')[1];
  if (token.split('.').length !== 3 || !payload) return {};
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const parsed = ClaimsSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** When a token stops working and when to stop using it (epoch ms). */
export interface TokenTimes {
  expiresAt: number;
  refreshAt: number;
}

function margin(lifetimeMs: number): number {
  return Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs / 2);
}

/**
 * Expiry and refresh time of an upstream token. The JWT's `exp` is the authority (read, not
 * verified: it is the upstream's token); then `expires_in`; then one hour. The lifetime is
 * `exp − iat` when both are present, so `refreshAt = expiresAt − min(5 min, lifetime / 2)`.
 * If `exp` disagrees with this clock (skew: the token would need refreshing already), the
 * token's own lifetime is anchored at `now` instead, so skew cannot cause a login per call.
 */
export function tokenTimes(token: string, expiresIn?: number, now: number = Date.now()): TokenTimes {
  const { exp, iat } = readJwtClaims(token);
  if (exp !== undefined) {
    const expiresAt = exp * 1000;
    const lifetime = iat !== undefined && iat < exp ? (exp - iat) * 1000 : expiresAt - now;
    if (lifetime > 0) {
      const refreshAt = expiresAt - margin(lifetime);
      if (refreshAt > now) return { expiresAt, refreshAt };
      return { expiresAt: now + lifetime, refreshAt: now + lifetime - margin(lifetime) };
    }
  }
  const lifetime = (expiresIn !== undefined && expiresIn >= 0 ? expiresIn : DEFAULT_TOKEN_LIFETIME_S) * 1000;
  return { expiresAt: now + lifetime, refreshAt: now + lifetime - margin(lifetime) };
}
