// Session tokens as a tenant's backend would mint them (contract §2): the same minter
// `npm start` uses for its demo token (scripts/demo.mjs).
import { mintSessionToken } from '../../scripts/demo.mjs';

/**
 * @param {{ secret: string, tenant: string, sub: string, ttlSeconds?: number }} opts
 * @returns {Promise<string>} a compact JWS
 */
export function mintSessionJwt({ secret, tenant, sub, ttlSeconds = 3600 }) {
  return mintSessionToken(secret, tenant, sub, ttlSeconds);
}
