// The demo tenant `npm start` configures, and a minimal HS256 session-token minter
// (what a tenant's own backend does with its session_secret). The tenant also takes
// tokens of an identity provider: the emulator stands in for one (test/emulator/idp.ts).

export const DEMO_USER = 'demo-user';
export const DEMO_IDP_USER = 'idp-demo-user';
/** The audience the demo tenant expects in IdP tokens. */
export const DEMO_AUDIENCE = 'epsimo-edge';

export const DEMO_TENANT = {
  id: 'demo',
  secret: 'demo-session-secret-change-me-0123456789abcdef',
  /**
   * @param {number} port the Worker's
   * @param {string} [idpUrl] the emulator's origin, whose JWKS route serves the IdP keys
   */
  config(port, idpUrl) {
    const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
    return {
      project_id: 'proj_demo',
      session_secret: this.secret,
      assistants: ['asst_support', 'asst_sales'],
      origins,
      tool_calls: 'name',
      ...(idpUrl
        ? {
            auth: {
              jwks: {
                uri: `${idpUrl}/.well-known/jwks.json`,
                issuer: idpUrl,
                audience: DEMO_AUDIENCE,
                algorithms: ['RS256', 'ES256'],
                authorized_parties: origins,
              },
            },
          }
        : {}),
    };
  },
};

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');

/**
 * @param {string} secret
 * @param {string} tenant
 * @param {string} sub
 * @param {number} [ttlSeconds]
 */
export async function mintSessionToken(secret, tenant, sub, ttlSeconds = 12 * 3600) {
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

/**
 * An IdP-style token (RS256, `kid`, `iss`/`aud`/`azp`, no `tenant` claim), minted by the
 * emulator's stand-in identity provider with its own private key.
 * @param {string} idpUrl the emulator's origin
 * @param {string} azp the frontend origin the token was issued to
 * @param {number} [ttlSeconds]
 */
export async function mintIdpToken(idpUrl, azp, ttlSeconds = 12 * 3600) {
  const now = Math.floor(Date.now() / 1000);
  const res = await fetch(`${idpUrl}/__emulator/idp/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      claims: { iss: idpUrl, aud: DEMO_AUDIENCE, azp, sub: DEMO_IDP_USER, iat: now, exp: now + ttlSeconds },
    }),
  });
  if (!res.ok) throw new Error(`the emulator minted no IdP token: HTTP ${res.status}`);
  const { token } = await res.json();
  return token;
}
