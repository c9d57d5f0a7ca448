import { decode } from 'hono/jwt';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANARY_EMAIL, CANARY_PASSWORD, CANARY_USER_ID } from '../../emulator/canaries';
import {
  bearer,
  createThread,
  freshEmulator,
  login,
  loginAndGetProjectToken,
  projectToken,
} from '../../helpers/emulator';
import { JsonObject, parseJson } from '../../helpers/json';

const emu = freshEmulator('auth');
const base = emu.baseUrl;

const TOKEN_EXPIRED = {
  error: 'Unauthorized',
  detail: 'Token has expired or is invalid',
  code: 'TOKEN_EXPIRED',
};

function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function expect401(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  expect(await res.json()).toEqual(TOKEN_EXPIRED);
}

beforeEach(async () => {
  await emu.reset();
});

describe('POST /auth/login', () => {
  it('returns the same JWT in all three token fields, with the documented claims', async () => {
    const res = await postJson('/auth/login', { email: CANARY_EMAIL, password: CANARY_PASSWORD });
    expect(res.status).toBe(200);
    const body = await parseJson(res, JsonObject);
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'jwt_token', 'token']);
    expect(body.token).toBe(body.access_token);
    expect(body.jwt_token).toBe(body.access_token);
    expect(body.expires_in).toBe(3600);
    const { header, payload } = decode(String(body.access_token));
    expect(header.alg).toBe('HS256');
    expect(payload.sub).toBe(CANARY_USER_ID);
    expect(payload.scope).toBe('account');
    expect(payload.exp).toBe(Number(payload.iat) + 3600);
    expect(typeof payload.jti).toBe('string');
    const stats = await emu.stats();
    expect(stats.logins).toBe(1);
    expect(stats.tokens_issued).toEqual([body.access_token]);
  });

  it('issues a unique token (jti) per login', async () => {
    const [a, b] = [await login(base), await login(base)];
    expect(a).not.toBe(b);
    expect(decode(a).payload.jti).not.toBe(decode(b).payload.jti);
  });

  it('rejects wrong credentials with 401 and counts the failure', async () => {
    const res = await postJson('/auth/login', { email: CANARY_EMAIL, password: 'nope' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: 'Invalid credentials',
      detail: 'Email or password is incorrect',
    });
    const stats = await emu.stats();
    expect(stats).toMatchObject({ logins: 0, login_failures: 1, tokens_issued: [] });
  });

  it('answers 422 with the field for a missing password', async () => {
    const res = await postJson('/auth/login', { email: CANARY_EMAIL });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: 'Validation Error',
      detail: "Field 'password' is required",
      field: 'password',
    });
  });

  it('reject_logins: valid credentials get 401', async () => {
    await emu.configure({ reject_logins: true });
    const res = await postJson('/auth/login', { email: CANARY_EMAIL, password: CANARY_PASSWORD });
    expect(res.status).toBe(401);
    expect((await emu.stats()).login_failures).toBe(1);
    await emu.configure({ reject_logins: false });
    expect(await login(base)).toMatch(/^ey/);
  });

  it.each(['access_token', 'token', 'jwt_token'] as const)(
    'token_field=%s: only that field',
    async (field) => {
      await emu.configure({ token_field: field });
      const res = await postJson('/auth/login', { email: CANARY_EMAIL, password: CANARY_PASSWORD });
      const body = await parseJson(res, JsonObject);
      expect(Object.keys(body).sort()).toEqual([field, 'expires_in'].sort());
      const accountToken = String(body[field]);
      const project = await fetch(`${base}/projects/proj_acme`, { headers: bearer(accountToken) });
      const projectBody = await parseJson(project, JsonObject);
      expect(projectBody[field]).toMatch(/^ey/);
      for (const other of ['access_token', 'token', 'jwt_token'].filter((f) => f !== field)) {
        expect(projectBody).not.toHaveProperty(other);
      }
    },
  );
});

describe('POST /auth/signup and GET /auth/thread-info', () => {
  it('creates an account that can log in, with its own thread info', async () => {
    const res = await postJson('/auth/signup', { email: 'new@example.com', password: 'long-enough-pw' });
    expect(res.status).toBe(200);
    const body = await parseJson(
      res,
      z.looseObject({
        access_token: z.string(),
        token_type: z.string(),
        user: z.looseObject({ user_id: z.string() }),
      }),
    );
    expect(body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      user: { email: 'new@example.com' },
    });
    expect(body.user.user_id).toMatch(/^usr_/);
    const token = await login(base, 'new@example.com', 'long-enough-pw');
    const info = await fetch(`${base}/auth/thread-info`, { headers: bearer(token) });
    expect(await info.json()).toMatchObject({ email: 'new@example.com', thread_counter: 0 });
    const projects = await fetch(`${base}/projects/`, { headers: bearer(body.access_token) });
    expect(await projects.json()).toEqual([]);
    const foreign = await fetch(`${base}/projects/proj_acme`, { headers: bearer(body.access_token) });
    expect(foreign.status).toBe(404);
  });

  it('answers 409 for an existing email and 422 for a bad one', async () => {
    expect((await postJson('/auth/signup', { email: CANARY_EMAIL, password: 'whatever-123' })).status).toBe(
      409,
    );
    const bad = await postJson('/auth/signup', { email: 'not-an-email', password: 'whatever-123' });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ error: 'Validation Error', field: 'email' });
  });

  it('thread-info reports the seeded account', async () => {
    const res = await fetch(`${base}/auth/thread-info`, { headers: bearer(await login(base)) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      email: CANARY_EMAIL,
      user_id: CANARY_USER_ID,
      thread_counter: 0,
      thread_max: 1000,
      subscription_tier: 'standard',
    });
  });
});

describe('token scoping', () => {
  it('missing, garbage and unknown tokens are 401 TOKEN_EXPIRED', async () => {
    await expect401(await fetch(`${base}/projects/`));
    await expect401(await fetch(`${base}/projects/`, { headers: bearer('not-a-jwt') }));
    const other = freshEmulator('other');
    const foreignToken = await login(other.baseUrl);
    await expect401(await fetch(`${base}/projects/`, { headers: bearer(foreignToken) }));
  });

  it('an account token is refused on project endpoints', async () => {
    const accountToken = await login(base);
    for (const path of ['/threads/', '/assistants/', '/files/', '/db/proj_acme/thread_1']) {
      await expect401(await fetch(`${base}${path}`, { headers: bearer(accountToken) }));
    }
  });

  it('a project token is refused on account endpoints', async () => {
    const { projectToken: pt } = await loginAndGetProjectToken(base, 'proj_acme');
    expect(decode(pt).payload.scope).toBe('project:proj_acme');
    for (const path of ['/projects/', '/auth/thread-info', '/credits/balance']) {
      await expect401(await fetch(`${base}${path}`, { headers: bearer(pt) }));
    }
  });

  it("another project's token: a thread is 404, its /db path is 401", async () => {
    const { accountToken, projectToken: acme } = await loginAndGetProjectToken(base, 'proj_acme');
    const globex = await projectToken(base, accountToken, 'proj_globex');
    const threadId = await createThread(base, acme);
    const res = await fetch(`${base}/threads/${threadId}`, { headers: bearer(globex) });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'Not Found', detail: `Thread ${threadId} not found` });
    await expect401(await fetch(`${base}/db/proj_acme/${threadId}`, { headers: bearer(globex) }));
    expect((await fetch(`${base}/db/proj_acme/${threadId}`, { headers: bearer(acme) })).status).toBe(200);
  });

  it('token_ttl_seconds=0 tokens are expired at once', async () => {
    await emu.configure({ token_ttl_seconds: 0 });
    const token = await login(base);
    await expect401(await fetch(`${base}/projects/`, { headers: bearer(token) }));
  });

  it('tokens expire after token_ttl_seconds', async () => {
    await emu.configure({ token_ttl_seconds: 2 });
    const res = await postJson('/auth/login', { email: CANARY_EMAIL, password: CANARY_PASSWORD });
    const body = await parseJson(res, z.looseObject({ access_token: z.string(), expires_in: z.number() }));
    expect(body.expires_in).toBe(2);
    expect((await fetch(`${base}/projects/`, { headers: bearer(body.access_token) })).status).toBe(200);
    const exp = Number(decode(body.access_token).payload.exp);
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
    await expect401(await fetch(`${base}/projects/`, { headers: bearer(body.access_token) }));
  });

  it('revoke-tokens invalidates every token issued so far, not later ones', async () => {
    const { accountToken, projectToken: pt } = await loginAndGetProjectToken(base, 'proj_acme');
    expect(await emu.revokeTokens()).toBe(2);
    await expect401(await fetch(`${base}/projects/`, { headers: bearer(accountToken) }));
    await expect401(await fetch(`${base}/threads/`, { headers: bearer(pt) }));
    const fresh = await login(base);
    expect((await fetch(`${base}/projects/`, { headers: bearer(fresh) })).status).toBe(200);
  });

  it('reset invalidates tokens too', async () => {
    const token = await login(base);
    await emu.reset();
    await expect401(await fetch(`${base}/projects/`, { headers: bearer(token) }));
  });
});
