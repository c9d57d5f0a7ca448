import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { expectError, nowSeconds, watchUpstream } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { TestIdp } from '../helpers/idp';

/**
 * The claim shapes of four identity providers' tokens, with each configured as the README
 * shows (only the JWKS URI points at the test's IdP): issuer spelling, audience and `azp`
 * conventions, lifetimes. Each also has the refusal its shape invites.
 */

function gateway(idp: TestIdp, jwks: Record<string, unknown>) {
  const gw = testGateway({
    tenants: {
      app: {
        project_id: 'proj_acme',
        assistants: ['asst_support'],
        auth: { jwks: { uri: idp.uri, ...jwks } },
      },
    },
  });
  const status = async (token: string) =>
    (await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } })).status;
  return { gw, status };
}

async function refusedQuietly(gw: ReturnType<typeof testGateway>, token: string): Promise<void> {
  const watch = await watchUpstream(gw.emulator);
  await expectError(
    await gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${token}` } }),
    401,
    'UNAUTHORIZED',
  );
  await watch.expectNone();
}

describe('IdP claim shapes', () => {
  it('Clerk: no aud, azp is the frontend origin, 60 s tokens with nbf a little in the past', async () => {
    const idp = new TestIdp();
    await idp.addKey('RS256');
    const issuer = 'https://clerk.acme.example';
    const { gw, status } = gateway(idp, {
      issuer,
      algorithms: ['RS256'],
      authorized_parties: ['https://app.acme.example'],
    });
    const now = nowSeconds();
    const clerk = {
      iss: issuer,
      sub: 'user_2NNEqL2nrIRdJ194ndJqAHwEfxC',
      azp: 'https://app.acme.example',
      sid: 'sess_2NNEqQ7BXbnFZCkrXcJmwYtkAZS',
      iat: now,
      nbf: now - 10,
      exp: now + 60,
      v: 2,
      fva: [0, -1],
    };
    expect(await status(await idp.sign(clerk))).toBe(200);
    await refusedQuietly(gw, await idp.sign({ ...clerk, azp: 'https://evil.example' }));
  });

  it('Auth0: issuer with a trailing slash, aud a list with /userinfo, azp the client id, 24 h tokens', async () => {
    const idp = new TestIdp();
    await idp.addKey('RS256');
    const { gw, status } = gateway(idp, {
      issuer: 'https://acme.us.auth0.com/',
      audience: 'https://api.acme.example',
      algorithms: ['RS256'],
      authorized_parties: ['kbyuFDidLLm280LIwVFiazOqjO3ty8KH'],
    });
    const now = nowSeconds();
    const auth0 = {
      iss: 'https://acme.us.auth0.com/',
      sub: 'auth0|64f1c2a9e0b5d3a1b2c3d4e5',
      aud: ['https://api.acme.example', 'https://acme.us.auth0.com/userinfo'],
      azp: 'kbyuFDidLLm280LIwVFiazOqjO3ty8KH',
      scope: 'openid profile email',
      iat: now,
      exp: now + 86_400,
    };
    expect(await status(await idp.sign(auth0))).toBe(200);
    // The issuer is compared exactly: Auth0's trailing slash matters.
    await refusedQuietly(gw, await idp.sign({ ...auth0, iss: 'https://acme.us.auth0.com' }));
    // An ID token (aud = the client id) is not an access token for this API.
    await refusedQuietly(gw, await idp.sign({ ...auth0, aud: 'kbyuFDidLLm280LIwVFiazOqjO3ty8KH' }));
  });

  it('Supabase: ES256 signing keys, iss …/auth/v1, aud "authenticated", a UUID sub', async () => {
    const idp = new TestIdp();
    await idp.addKey('ES256');
    const issuer = 'https://abcdefghijklmnopqrst.supabase.co/auth/v1';
    const { gw, status } = gateway(idp, { issuer, audience: 'authenticated', algorithms: ['ES256'] });
    const now = nowSeconds();
    const supabase = {
      iss: issuer,
      sub: '8f2b7c1e-4d3a-4b6e-9f0a-1c2d3e4f5a6b',
      aud: 'authenticated',
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: now - 5 }],
      session_id: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e',
      email: 'user@acme.example',
      is_anonymous: false,
      iat: now,
      exp: now + 3600,
    };
    expect(await status(await idp.sign(supabase))).toBe(200);
    // A legacy HS256 token (the project's shared JWT secret): this tenant takes no HS256 at all.
    const legacy = await new SignJWT(supabase)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode('super-secret-jwt-token-with-at-least-32-characters-long'));
    await refusedQuietly(gw, legacy);
    // The anon role's token has another audience.
    await refusedQuietly(gw, await idp.sign({ ...supabase, aud: 'anon', role: 'anon' }));
  });

  it('Firebase: iss securetoken.google.com/<project>, aud the project id, 1 h ID tokens', async () => {
    const idp = new TestIdp();
    await idp.addKey('RS256');
    const { gw, status } = gateway(idp, {
      issuer: 'https://securetoken.google.com/acme-app',
      audience: 'acme-app',
      algorithms: ['RS256'],
    });
    const now = nowSeconds();
    const firebase = {
      iss: 'https://securetoken.google.com/acme-app',
      aud: 'acme-app',
      auth_time: now - 120,
      user_id: 'kXjP2s9vQeRb1mN4tY7wZ3aC5dF8',
      sub: 'kXjP2s9vQeRb1mN4tY7wZ3aC5dF8',
      iat: now,
      exp: now + 3600,
      email: 'user@acme.example',
      email_verified: true,
      firebase: { identities: { email: ['user@acme.example'] }, sign_in_provider: 'password' },
    };
    expect(await status(await idp.sign(firebase))).toBe(200);
    // Another Firebase project's token, signed by the same Google keys.
    await refusedQuietly(
      gw,
      await idp.sign({ ...firebase, iss: 'https://securetoken.google.com/other-app', aud: 'other-app' }),
    );
    await refusedQuietly(gw, await idp.sign({ ...firebase, aud: 'other-app' }));
  });
});
