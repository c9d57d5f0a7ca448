import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { accountKey } from '../../src/objects/token-broker';
import type { AccountConfig, TokenGrant, TokenResult } from '../../src/upstream/types';
import { CANARY_EMAIL, CANARY_PASSWORD } from '../emulator/canaries';
import { type EmulatorControl, freshEmulator } from '../helpers/emulator';

function accountFor(emulator: EmulatorControl, password = CANARY_PASSWORD): AccountConfig {
  return { baseUrl: emulator.baseUrl, email: CANARY_EMAIL, password };
}

async function brokerFor(account: AccountConfig) {
  return env.TOKEN_BROKER.get(env.TOKEN_BROKER.idFromName(await accountKey(account)));
}

function granted(result: TokenResult): TokenGrant {
  if (!result.ok) throw new Error(`expected a token, got ${JSON.stringify(result)}`);
  return result;
}

/** The `Authorization` values the emulator saw for requests on paths starting with `prefix`. */
function authsFor(log: { path: string; authorization: string | null }[], prefix: string): string[] {
  return log.filter((e) => e.path.startsWith(prefix)).map((e) => e.authorization ?? '');
}

describe('accountKey', () => {
  it('is a SHA-256 hex that differs per upstream and per account', async () => {
    const a = await accountKey({ baseUrl: 'https://a.example', email: 'x@example.com' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await accountKey({ baseUrl: 'https://a.example', email: 'x@example.com' })).toBe(a);
    expect(await accountKey({ baseUrl: 'https://b.example', email: 'x@example.com' })).not.toBe(a);
    expect(await accountKey({ baseUrl: 'https://a.example', email: 'y@example.com' })).not.toBe(a);
  });
});

describe('TokenBroker', () => {
  it('answers 100 concurrent getToken calls with exactly one login', async () => {
    const emulator = freshEmulator();
    const broker = await brokerFor(accountFor(emulator));
    const results = await Promise.all(
      Array.from({ length: 100 }, () => broker.getToken(accountFor(emulator), 'account')),
    );
    const tokens = new Set(results.map((r) => granted(r).token));
    expect(tokens.size).toBe(1);
    const stats = await emulator.stats();
    expect(stats.logins).toBe(1);
    expect(stats.login_failures).toBe(0);
    expect(stats.requests['POST /auth/login']).toBe(1);
  });

  it('fetches one project token per project, concurrently deduplicated, with one login', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    const calls = [
      ...Array.from({ length: 30 }, () => broker.getToken(account, 'project:proj_acme')),
      ...Array.from({ length: 30 }, () => broker.getToken(account, 'project:proj_globex')),
    ];
    const results = (await Promise.all(calls)).map(granted);
    const acme = new Set(results.slice(0, 30).map((r) => r.token));
    const globex = new Set(results.slice(30).map((r) => r.token));
    expect(acme.size).toBe(1);
    expect(globex.size).toBe(1);
    expect([...acme][0]).not.toBe([...globex][0]);
    const stats = await emulator.stats();
    expect(stats.logins).toBe(1);
    expect(stats.requests['GET /projects/:project_id']).toBe(2);
    // The project fetches carried the account token, never a project token.
    const account_token = granted(await broker.getToken(account, 'account')).token;
    expect(new Set(authsFor(stats.request_log, '/projects/'))).toEqual(new Set([`Bearer ${account_token}`]));
  });

  it('backs off after a rejected login: 50 calls cause at most 2 logins and no token', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator, 'wrong-password');
    const broker = await brokerFor(account);
    const concurrent = await Promise.all(
      Array.from({ length: 25 }, () => broker.getToken(account, 'account')),
    );
    const sequential: TokenResult[] = [];
    for (let i = 0; i < 25; i += 1) sequential.push(await broker.getToken(account, 'project:proj_acme'));
    for (const result of [...concurrent, ...sequential]) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.retryAfter).toBeGreaterThan(0);
        expect(result.reason).toBe('login_rejected');
      }
    }
    const stats = await emulator.stats();
    expect(stats.login_failures).toBeGreaterThanOrEqual(1);
    expect(stats.login_failures).toBeLessThanOrEqual(2);
    expect(stats.logins).toBe(0);
    expect(stats.requests['GET /projects/:project_id']).toBeUndefined();
  });

  it('doubles the backoff after each failed login and resets it on success', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    await emulator.configure({ reject_logins: true });
    const first = await broker.getToken(account, 'account');
    expect(first).toMatchObject({ ok: false, retryAfter: 1, reason: 'login_rejected' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await broker.getToken(account, 'account');
    expect(second).toMatchObject({ ok: false, retryAfter: 2, reason: 'login_rejected' });
    expect((await emulator.stats()).login_failures).toBe(2);

    await emulator.configure({ reject_logins: false });
    await runInDurableObject(broker, async (_instance, state) => {
      // Skip the wait: the persisted backoff is what the next cold start would read too.
      expect(await state.storage.get('login-backoff')).toMatchObject({ failures: 2 });
    });
    await evictDurableObject(broker);
    await runInDurableObject(broker, (_instance, state) => state.storage.delete('login-backoff'));
    await evictDurableObject(broker);
    granted(await broker.getToken(account, 'account'));
    await runInDurableObject(broker, async (_instance, state) => {
      expect(await state.storage.get('login-backoff')).toBeUndefined();
    });
  });

  it('refreshes ahead of expiry: refreshAt = expiresAt − half the lifetime for short tokens', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    await emulator.configure({ token_ttl_seconds: 4 });
    const first = granted(await broker.getToken(account, 'account'));
    expect(first.expiresAt - first.refreshAt).toBe(2_000);
    expect(first.refreshAt).toBeGreaterThan(Date.now());
    // Served from the cache until refreshAt.
    expect(granted(await broker.getToken(account, 'account')).token).toBe(first.token);
    expect((await emulator.stats()).logins).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, first.refreshAt - Date.now()) + 50));
    const second = granted(await broker.getToken(account, 'account'));
    expect(second.token).not.toBe(first.token);
    // Refreshed before the old token expired.
    expect(Date.now()).toBeLessThan(first.expiresAt);
    expect((await emulator.stats()).logins).toBe(2);
  });

  it('uses a 5-minute margin for hour-long tokens', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const grant = granted(await (await brokerFor(account)).getToken(account, 'account'));
    expect(grant.expiresAt - grant.refreshAt).toBe(5 * 60_000);
    expect(grant.expiresAt - Date.now()).toBeLessThanOrEqual(3600_000);
  });

  it('drops a rejected token and logs in again, but ignores a stale rejection', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    const first = granted(await broker.getToken(account, 'account'));
    await emulator.revokeTokens();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => broker.getToken(account, 'account', first.token)),
    );
    const fresh = new Set(results.map((r) => granted(r).token));
    expect(fresh.size).toBe(1);
    expect(fresh.has(first.token)).toBe(false);
    // A late report about the old token does not throw the new one away.
    expect(granted(await broker.getToken(account, 'account', first.token)).token).toBe([...fresh][0]);
    expect((await emulator.stats()).logins).toBe(2);
  });

  it('re-logs in once when a project fetch finds the account token revoked', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    const project = granted(await broker.getToken(account, 'project:proj_acme'));
    await emulator.revokeTokens();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => broker.getToken(account, 'project:proj_acme', project.token)),
    );
    const fresh = new Set(results.map((r) => granted(r).token));
    expect(fresh.size).toBe(1);
    expect(fresh.has(project.token)).toBe(false);
    const stats = await emulator.stats();
    expect(stats.logins).toBe(2);
    // One 401 with the revoked account token, then one success: no loop.
    expect(stats.requests['GET /projects/:project_id']).toBe(3);
  });

  it('reports a missing project with project_unavailable and backs off instead of refetching', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    for (let i = 0; i < 10; i += 1) {
      expect(await broker.getToken(account, 'project:proj_missing')).toMatchObject({
        ok: false,
        reason: 'project_unavailable',
      });
    }
    const stats = await emulator.stats();
    expect(stats.requests['GET /projects/:project_id']).toBe(1);
    expect(stats.logins).toBe(1);
  });

  it('treats a login timeout like a failure', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    await emulator.configure({ latency_ms: 6_000 });
    const result = await broker.getToken(account, 'account');
    expect(result).toMatchObject({ ok: false, reason: 'upstream_unavailable' });
    if (!result.ok) expect(result.retryAfter).toBeGreaterThan(0);
    // Backing off: no second attempt.
    expect(await broker.getToken(account, 'account')).toMatchObject({ ok: false });
    await emulator.configure({ latency_ms: 0 });
    expect((await emulator.stats()).logins).toBe(0);
  });

  it('persists tokens: an evicted broker serves them without a new login', async () => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    const accountGrant = granted(await broker.getToken(account, 'account'));
    const projectGrant = granted(await broker.getToken(account, 'project:proj_globex'));
    await evictDurableObject(broker);
    expect(granted(await broker.getToken(account, 'account')).token).toBe(accountGrant.token);
    expect(granted(await broker.getToken(account, 'project:proj_globex')).token).toBe(projectGrant.token);
    const stats = await emulator.stats();
    expect(stats.logins).toBe(1);
    expect(stats.requests['GET /projects/:project_id']).toBe(1);
  });

  it.each(['access_token', 'token', 'jwt_token'] as const)('reads the token from %s alone', async (field) => {
    const emulator = freshEmulator();
    const account = accountFor(emulator);
    const broker = await brokerFor(account);
    await emulator.configure({ token_field: field });
    const accountGrant = granted(await broker.getToken(account, 'account'));
    const projectGrant = granted(await broker.getToken(account, 'project:proj_acme'));
    const issued = (await emulator.stats()).tokens_issued;
    expect(issued).toContain(accountGrant.token);
    expect(issued).toContain(projectGrant.token);
  });

  it('never logs a credential or a token', async () => {
    const emulator = freshEmulator();
    const lines: string[] = [];
    const original = { log: console.log, warn: console.warn, error: console.error };
    for (const level of ['log', 'warn', 'error'] as const) {
      console[level] = (...args: unknown[]) => lines.push(args.map(String).join(' '));
    }
    try {
      const good = accountFor(emulator);
      const broker = await brokerFor(good);
      granted(await broker.getToken(good, 'project:proj_acme'));
      await broker.getToken(good, 'project:proj_missing');
      const bad = { ...good, email: 'other@edge-canary.example', password: 'wrong-password' };
      await (await brokerFor(bad)).getToken(bad, 'account');
    } finally {
      Object.assign(console, original);
    }
    expect(lines.some((l) => l.includes('upstream project token failed'))).toBe(true);
    const text = lines.join('\n');
    expect(text).not.toContain(CANARY_PASSWORD);
    expect(text).not.toContain('wrong-password');
    expect(text).not.toContain('edge-canary.example');
    expect(text).not.toMatch(/eyJ/);
  });
});
