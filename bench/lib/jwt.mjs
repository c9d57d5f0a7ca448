// Session tokens as a tenant's backend would mint them (contract §2): HS256 over the
// tenant's session_secret, claims tenant, sub, iat, exp. WebCrypto only, no library.

/** @param {Uint8Array | string} data */
function base64url(data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return Buffer.from(bytes).toString('base64url');
}

/**
 * @param {{ secret: string, tenant: string, sub: string, ttlSeconds?: number }} opts
 * @returns {Promise<string>} a compact JWS
 */
export async function mintSessionJwt({ secret, tenant, sub, ttlSeconds = 3600 }) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ tenant, sub, iat: now, exp: now + ttlSeconds }));
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const signature = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${header}.${payload}`));
  return `${header}.${payload}.${base64url(new Uint8Array(signature))}`;
}
