// The demo tenant `npm start` configures, and a minimal HS256 session-token minter
// (what a tenant's own backend does with its session_secret).

export const DEMO_USER = 'demo-user';

export const DEMO_TENANT = {
  id: 'demo',
  secret: 'demo-session-secret-change-me-0123456789abcdef',
  /** @param {number} port */
  config(port) {
    return {
      project_id: 'proj_demo',
      session_secret: this.secret,
      assistants: ['asst_support', 'asst_sales'],
      origins: [`http://127.0.0.1:${port}`, `http://localhost:${port}`],
      tool_calls: 'name',
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
