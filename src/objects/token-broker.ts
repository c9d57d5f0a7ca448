import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import { sha256Hex } from '../hash';
import { log } from '../log';
import { IdSchema } from '../tenant';
import { retryAfterFrom } from '../upstream/errors';
import { buildHeaders, buildUrl, discard } from '../upstream/http';
import { tokenTimes } from '../upstream/jwt-exp';
import { UpstreamTokenSchema } from '../upstream/schemas';
import { sendUpstream } from '../upstream/send';
import type { AccountConfig, TokenDenied, TokenGrant, TokenResult, TokenScope } from '../upstream/types';

/** Login and project fetches give up after this long; a timeout counts as a failure. */
const FETCH_TIMEOUT_MS = 5_000;
/** Failed logins back off 1 s, 2 s, 4 s … up to 60 s; a success resets it. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;

const TOKEN_PREFIX = 'token:';
const BACKOFF_KEY = 'login-backoff';

const StoredTokenSchema = z.object({
  token: z.string().min(1),
  expiresAt: z.number(),
  refreshAt: z.number(),
});
type StoredToken = z.infer<typeof StoredTokenSchema>;

const BackoffSchema = z.object({
  failures: z.number().int().nonnegative(),
  nextAt: z.number(),
  reason: z.enum(['login_rejected', 'upstream_unavailable', 'project_unavailable']),
});
type Backoff = z.infer<typeof BackoffSchema>;

const NO_BACKOFF: Backoff = { failures: 0, nextAt: 0, reason: 'upstream_unavailable' };

/**
 * The key of an upstream account's broker (`idFromName(await accountKey(account))`): the
 * SHA-256 hex of `baseUrl + '\n' + email`, so another upstream or account is another object.
 */
export async function accountKey(account: Pick<AccountConfig, 'baseUrl' | 'email'>): Promise<string> {
  return sha256Hex(new TextEncoder().encode(`${account.baseUrl}\n${account.email}`));
}

function projectIdOf(scope: TokenScope): string | undefined {
  if (scope === 'account') return undefined;
  const id = scope.slice('project:'.length);
  if (!scope.startsWith('project:') || !IdSchema.safeParse(id).success)
    throw new TypeError('invalid token scope');
  return id;
}

/** A stored key's scope, if it is one (storage is ours, but parse rather than trust it). */
function scopeOf(value: string): TokenScope | undefined {
  if (value === 'account') return 'account';
  const id = value.startsWith('project:') ? value.slice('project:'.length) : '';
  return IdSchema.safeParse(id).success ? `project:${id}` : undefined;
}

function grant(stored: StoredToken): TokenGrant {
  return { ok: true, token: stored.token, expiresAt: stored.expiresAt, refreshAt: stored.refreshAt };
}

function denied(reason: TokenDenied['reason'], waitMs: number): TokenDenied {
  return { ok: false, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)), reason };
}

function nextBackoff(previous: Backoff, reason: Backoff['reason'], hintS?: number): Backoff {
  const failures = previous.failures + 1;
  let wait = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
  if (hintS !== undefined) wait = Math.min(BACKOFF_MAX_MS, Math.max(wait, hintS * 1000));
  return { failures, nextAt: Date.now() + wait, reason };
}

/**
 * Owns one upstream account's tokens: the account token (`POST /auth/login`) and each
 * project's token (`GET /projects/{id}`). At most one login and one fetch per project are in
 * flight (concurrent callers share the promise: inside a Durable Object all requests share
 * one I/O context), failed logins back off exponentially, and tokens are persisted so an
 * evicted object does not log in again. Never logs a credential or a token.
 */
export class TokenBroker extends DurableObject<Env> {
  #tokens = new Map<TokenScope, StoredToken>();
  #login: Promise<TokenResult> | undefined;
  #loginBackoff: Backoff = NO_BACKOFF;
  #projects = new Map<TokenScope, Promise<TokenResult>>();
  /** Per-project backoff (memory only): a missing project must not be fetched per request. */
  #projectBackoff = new Map<TokenScope, Backoff>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(() => this.#load());
  }

  /**
   * A token for `scope`, served from the cache while `now < refreshAt`. `rejected` is a token
   * the upstream refused (401): if it is still the cached one, it is dropped and replaced.
   */
  async getToken(account: AccountConfig, scope: TokenScope, rejected?: string): Promise<TokenResult> {
    const projectId = projectIdOf(scope);
    if (rejected !== undefined) await this.#drop(scope, rejected);
    const cached = this.#fresh(scope);
    if (cached) return cached;
    return projectId === undefined
      ? this.#accountToken(account)
      : this.#projectToken(account, scope, projectId);
  }

  async #load(): Promise<void> {
    const now = Date.now();
    const entries = await this.ctx.storage.list({ prefix: TOKEN_PREFIX });
    for (const [key, value] of entries) {
      const stored = StoredTokenSchema.safeParse(value);
      const scope = scopeOf(key.slice(TOKEN_PREFIX.length));
      if (stored.success && scope && stored.data.expiresAt > now) {
        this.#tokens.set(scope, stored.data);
      } else {
        await this.ctx.storage.delete(key);
      }
    }
    const backoff = BackoffSchema.safeParse(await this.ctx.storage.get(BACKOFF_KEY));
    if (backoff.success) this.#loginBackoff = backoff.data;
  }

  #fresh(scope: TokenScope): TokenGrant | undefined {
    const stored = this.#tokens.get(scope);
    return stored && Date.now() < stored.refreshAt ? grant(stored) : undefined;
  }

  async #drop(scope: TokenScope, rejected: string): Promise<void> {
    if (this.#tokens.get(scope)?.token !== rejected) return;
    this.#tokens.delete(scope);
    await this.ctx.storage.delete(TOKEN_PREFIX + scope);
  }

  async #store(scope: TokenScope, token: string, expiresIn?: number): Promise<TokenGrant> {
    const stored = { token, ...tokenTimes(token, expiresIn) };
    this.#tokens.set(scope, stored);
    await this.ctx.storage.put(TOKEN_PREFIX + scope, stored);
    return grant(stored);
  }

  #accountToken(account: AccountConfig): Promise<TokenResult> {
    const cached = this.#fresh('account');
    if (cached) return Promise.resolve(cached);
    if (this.#login) return this.#login;
    const wait = this.#loginBackoff.nextAt - Date.now();
    if (wait > 0) return Promise.resolve(denied(this.#loginBackoff.reason, wait));
    const login = this.#doLogin(account).finally(() => {
      if (this.#login === login) this.#login = undefined;
    });
    this.#login = login;
    return login;
  }

  async #doLogin(account: AccountConfig): Promise<TokenResult> {
    const sent = await sendUpstream(
      buildUrl(account.baseUrl, { path: ['auth', 'login'] }),
      {
        method: 'POST',
        headers: buildHeaders({ accept: 'application/json', json: true }),
        body: JSON.stringify({ email: account.email, password: account.password }),
      },
      { timeoutMs: FETCH_TIMEOUT_MS, timeoutCovers: 'response' },
    );
    if (sent.kind !== 'response') return this.#loginFailed('upstream_unavailable', sent.kind);
    const { res } = sent;
    const body = res.ok ? await res.json().catch(() => undefined) : await discard(res);
    sent.release();
    if (res.ok) {
      const parsed = UpstreamTokenSchema.safeParse(body);
      if (!parsed.success) return this.#loginFailed('upstream_unavailable', 'bad_body', res.status);
      const granted = await this.#store('account', parsed.data.token, parsed.data.expiresIn);
      this.#loginBackoff = NO_BACKOFF;
      await this.ctx.storage.delete(BACKOFF_KEY);
      return granted;
    }
    const rejected = res.status === 400 || res.status === 401 || res.status === 403 || res.status === 422;
    const hint = retryAfterFrom(res.headers, res.status === 429);
    return this.#loginFailed(
      rejected ? 'login_rejected' : 'upstream_unavailable',
      'status',
      res.status,
      hint,
    );
  }

  async #loginFailed(
    reason: TokenDenied['reason'],
    outcome: string,
    status?: number,
    hintS?: number,
  ): Promise<TokenDenied> {
    this.#loginBackoff = nextBackoff(this.#loginBackoff, reason, hintS);
    await this.ctx.storage.put(BACKOFF_KEY, this.#loginBackoff);
    const wait = this.#loginBackoff.nextAt - Date.now();
    log('warn', 'upstream login failed', {
      reason,
      outcome,
      status,
      failures: this.#loginBackoff.failures,
      retry_after_s: Math.ceil(wait / 1000),
    });
    return denied(reason, wait);
  }

  #projectToken(account: AccountConfig, scope: TokenScope, projectId: string): Promise<TokenResult> {
    const inFlight = this.#projects.get(scope);
    if (inFlight) return inFlight;
    const backoff = this.#projectBackoff.get(scope);
    const wait = (backoff?.nextAt ?? 0) - Date.now();
    if (backoff && wait > 0) return Promise.resolve(denied(backoff.reason, wait));
    const fetching = this.#fetchProject(account, scope, projectId).finally(() => {
      if (this.#projects.get(scope) === fetching) this.#projects.delete(scope);
    });
    this.#projects.set(scope, fetching);
    return fetching;
  }

  /** `GET /projects/{id}` with the account token; a 401 re-logs in once (the account token died). */
  async #fetchProject(account: AccountConfig, scope: TokenScope, projectId: string): Promise<TokenResult> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const accountToken = await this.#accountToken(account);
      if (!accountToken.ok) return accountToken;
      const sent = await sendUpstream(
        buildUrl(account.baseUrl, { path: ['projects', projectId] }),
        {
          method: 'GET',
          headers: buildHeaders({ token: accountToken.token, accept: 'application/json', json: false }),
        },
        { timeoutMs: FETCH_TIMEOUT_MS, timeoutCovers: 'response' },
      );
      if (sent.kind !== 'response') return this.#projectFailed(scope, 'upstream_unavailable', sent.kind);
      const { res } = sent;
      const body = res.ok ? await res.json().catch(() => undefined) : await discard(res);
      sent.release();
      if (res.status === 401 && attempt === 0) {
        await this.#drop('account', accountToken.token);
        continue;
      }
      if (!res.ok) {
        const missing = res.status === 403 || res.status === 404;
        const hint = retryAfterFrom(res.headers, res.status === 429);
        return this.#projectFailed(
          scope,
          missing ? 'project_unavailable' : 'upstream_unavailable',
          'status',
          res.status,
          hint,
        );
      }
      const parsed = UpstreamTokenSchema.safeParse(body);
      if (!parsed.success) return this.#projectFailed(scope, 'upstream_unavailable', 'bad_body', res.status);
      this.#projectBackoff.delete(scope);
      return this.#store(scope, parsed.data.token, parsed.data.expiresIn);
    }
    return this.#projectFailed(scope, 'upstream_unavailable', 'auth', 401);
  }

  #projectFailed(
    scope: TokenScope,
    reason: TokenDenied['reason'],
    outcome: string,
    status?: number,
    hintS?: number,
  ): TokenDenied {
    const backoff = nextBackoff(this.#projectBackoff.get(scope) ?? NO_BACKOFF, reason, hintS);
    this.#projectBackoff.set(scope, backoff);
    const wait = backoff.nextAt - Date.now();
    log('warn', 'upstream project token failed', {
      scope,
      reason,
      outcome,
      status,
      failures: backoff.failures,
      retry_after_s: Math.ceil(wait / 1000),
    });
    return denied(reason, wait);
  }
}
