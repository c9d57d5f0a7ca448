import { BoundedMap } from '../bounded-map';
import { ApiError } from '../errors';
import { errorName, log } from '../log';
import { accountKey, type TokenBroker } from '../objects/token-broker';
import type { AccountConfig, TokenResult, TokenScope, TokenSource } from './types';

/** Bounds the module-level maps (one account in production; many in tests). */
const MAX_ENTRIES = 1_000;

/**
 * The isolate's token cache in front of the `TokenBroker`. It holds strings and numbers
 * only, never promises: the runtime cancels a promise with the request that created it, so
 * a shared in-flight promise here would fail unrelated requests. Deduplicating concurrent
 * fetches is the broker's job.
 */
const tokenCache = new BoundedMap<string, { token: string; refreshAt: number }>(MAX_ENTRIES);
/** `baseUrl\nemail` → its broker key, computed once per account per isolate. */
const accountKeys = new BoundedMap<string, string>(MAX_ENTRIES);

/** The account's key if this isolate already computed it (no await on the hot path). */
export function knownKeyOf(account: AccountConfig): string | undefined {
  return accountKeys.get(`${account.baseUrl}\n${account.email}`);
}

/** The account's Durable Object key (see `accountKey`), computed once per isolate. */
export async function keyOf(account: AccountConfig): Promise<string> {
  const raw = `${account.baseUrl}\n${account.email}`;
  const known = accountKeys.get(raw);
  if (known !== undefined) return known;
  const key = await accountKey(account);
  accountKeys.set(raw, key);
  return key;
}

/** Options of {@link createTokenSource}. */
export interface TokenSourceOptions {
  /** The `TOKEN_BROKER` binding. */
  namespace: DurableObjectNamespace<TokenBroker>;
  account: AccountConfig;
}

/**
 * A {@link TokenSource} for `account`: serves the isolate cache while `now < refreshAt`,
 * otherwise asks the account's broker. A denial becomes `ApiError(503, UPSTREAM_UNAVAILABLE)`
 * with `Retry-After`. Cheap to create: build one per request.
 */
export function createTokenSource({ namespace, account }: TokenSourceOptions): TokenSource {
  async function fromBroker(key: string, scope: TokenScope, rejected?: string): Promise<string> {
    let result: TokenResult;
    try {
      result = await namespace.getByName(key).getToken(account, scope, rejected);
    } catch (err) {
      log('error', 'token broker call failed', { error: errorName(err) });
      throw new ApiError('UPSTREAM_UNAVAILABLE', 'The upstream is unavailable.', { retryAfter: 1 });
    }
    if (!result.ok) {
      throw new ApiError('UPSTREAM_UNAVAILABLE', 'The upstream is unavailable.', {
        retryAfter: result.retryAfter,
      });
    }
    tokenCache.set(`${key}|${scope}`, { token: result.token, refreshAt: result.refreshAt });
    return result.token;
  }

  return {
    async get(scope) {
      const key = await keyOf(account);
      const cached = tokenCache.get(`${key}|${scope}`);
      if (cached && Date.now() < cached.refreshAt) return cached.token;
      return fromBroker(key, scope);
    },
    async refresh(scope, rejected) {
      const key = await keyOf(account);
      // Only the rejected token is evicted: a newer one another request already fetched stays.
      if (tokenCache.get(`${key}|${scope}`)?.token === rejected) tokenCache.delete(`${key}|${scope}`);
      return fromBroker(key, scope, rejected);
    },
  };
}
