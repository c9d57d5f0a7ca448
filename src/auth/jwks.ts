import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import { BoundedMap } from '../bounded-map';
import { sha256Hex } from '../hash';
import { errorName, log } from '../log';

/**
 * An IdP's signing keys (its JWKS document), cached per isolate and in the Cache API so
 * a token costs no fetch: fresh for the document's `Cache-Control: max-age` (clamped to
 * {@link MIN_MAX_AGE_S}-{@link MAX_MAX_AGE_S} s), refetched when stale or for an unknown
 * `kid` at most once per {@link REFETCH_INTERVAL_MS} per document, and kept usable through
 * an IdP outage for {@link MAX_STALE_MS} after the last good fetch. A `kid` the keys lack is
 * known to be bad only if the IdP's latest word is a good fetch; after a failed one it may be
 * a key the IdP rotated in meanwhile, so it is unavailable (503, retry), not refused (401).
 */

/** Freshness when the IdP sends no `max-age` (s). */
export const DEFAULT_MAX_AGE_S = 600;
export const MIN_MAX_AGE_S = 60;
export const MAX_MAX_AGE_S = 3600;
/** An unknown `kid` (or stale keys) refetches at most this often per document (ms). */
export const REFETCH_INTERVAL_MS = 30_000;
/** With no keys at all, a failed fetch is not retried for this long: requests get 503 meanwhile (ms). */
export const FAILURE_BACKOFF_MS = 5_000;
/** Keys stay usable this long after their last good fetch while the IdP cannot be reached (ms). */
export const MAX_STALE_MS = 24 * 3600_000;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 64 * 1024;
const MAX_ENTRIES = 1000;
/** Keys a document may hold; also bounds the keys one token is tried with (auth/verify.ts). */
export const MAX_KEYS = 64;

const text = z.string().max(8192);

/** The public members of a JWK that verification needs; anything else (private parts too) is dropped. */
const JwkSchema = z.object({
  kty: z.string().max(16),
  kid: text.optional(),
  use: text.optional(),
  alg: text.optional(),
  key_ops: z.array(text).max(16).optional(),
  ext: z.boolean().optional(),
  crv: text.optional(),
  n: text.optional(),
  e: text.optional(),
  x: text.optional(),
  y: text.optional(),
});
const DocumentSchema = z.object({ keys: z.array(JwkSchema).min(1).max(MAX_KEYS) });

/** What the Cache API holds for one document. */
const StoredSchema = z.object({
  fetched_at: z.number(),
  fresh_until: z.number(),
  jwks: DocumentSchema,
});

/** One verified-good document, ready to pick keys from. */
export interface KeySet {
  /** jose's key picker: by `kid` and by the key type `alg` needs (an RSA key never serves ES256). */
  resolve: ReturnType<typeof createLocalJWKSet>;
  kids: ReadonlySet<string>;
  fetchedAt: number;
  freshUntil: number;
}

interface Entry {
  keys: KeySet | undefined;
  /** When a fetch was last started (ms; 0: never in this isolate). */
  attemptAt: number;
  /** When the last fetch failed, if it did. */
  failedAt: number | undefined;
  /** Whether the fetch started at `attemptAt` has finished (it may never: its request can be cancelled). */
  settled: boolean;
}

/** No keys to decide a token with; `retryAfter` (s): until this isolate asks the IdP again. */
export interface Unavailable {
  retryAfter: number;
}

/** By document URI. Only URIs from the configuration get here, so this stays small. */
const entries = new BoundedMap<string, Entry>(MAX_ENTRIES);

/**
 * The keys of the JWKS at `uri` to verify a token signed with `kid`, or {@link Unavailable}
 * when they cannot be had (the caller answers 503): none usable and the IdP unreachable, or
 * `kid` not among them and the last fetch failed or is still under way. The keys returned
 * may lack `kid` only when a good fetch is the latest word, within {@link REFETCH_INTERVAL_MS}:
 * verification then fails.
 */
export async function keysFor(uri: string, kid: string): Promise<KeySet | Unavailable> {
  let entry = entries.get(uri);
  if (!entry) {
    entry = { keys: undefined, attemptAt: 0, failedAt: undefined, settled: true };
    entries.set(uri, entry);
  }
  const now = Date.now();
  // A fetch whose request was cancelled never settles: past its timeout it counts as failed
  // and the next may start at once, so a caller who hangs up cannot hold the refetch off
  // (and answer 401 to a rotated-in kid) for the rest of the interval.
  if (!entry.settled && now - entry.attemptAt >= FETCH_TIMEOUT_MS) {
    entry.settled = true;
    entry.failedAt = entry.attemptAt;
    entry.attemptAt = now - REFETCH_INTERVAL_MS;
  }
  if (!entry.keys) entry.keys = await fromCache(uri, now);
  const { keys } = entry;
  if (keys && now < keys.freshUntil && keys.kids.has(kid)) return keys;

  if (now >= nextFetchAt(entry)) {
    entry.attemptAt = now;
    entry.settled = false;
    const fetched = await fetchKeys(uri, now);
    entry.settled = true;
    if (fetched) {
      entry.keys = fetched.keys;
      entry.failedAt = undefined;
      await toCache(uri, fetched.document, fetched.keys, now);
    } else {
      entry.failedAt = now;
    }
  }
  const usable = entry.keys && now < entry.keys.fetchedAt + MAX_STALE_MS ? entry.keys : undefined;
  // Keys another isolate fetched after our failure (read from the Cache API) are the latest word.
  const failed = entry.failedAt !== undefined && entry.failedAt >= (usable?.fetchedAt ?? 0);
  // A refetch another request started may be bringing this kid (an IdP rotating keys in): a
  // second's retry, not a 401. Bounded by the fetch timeout, as a cancelled one never settles.
  const pending = !entry.settled && now - entry.attemptAt < FETCH_TIMEOUT_MS;
  if (usable && (usable.kids.has(kid) || !(failed || pending))) return usable;
  const retryAt = pending ? now : nextFetchAt(entry);
  return { retryAfter: Math.max(1, Math.ceil((retryAt - now) / 1000)) };
}

/**
 * When this isolate may fetch the document next (ms): with keys, {@link REFETCH_INTERVAL_MS}
 * after the last attempt (random `kid`s cannot make it hammer the IdP); with none, right
 * away unless a fetch failed less than {@link FAILURE_BACKOFF_MS} ago.
 */
function nextFetchAt(entry: Entry): number {
  if (entry.keys) return entry.attemptAt + REFETCH_INTERVAL_MS;
  return entry.failedAt === undefined ? 0 : entry.failedAt + FAILURE_BACKOFF_MS;
}

/** Forgets every cached key set of this isolate (tests). */
export function clearKeyCache(): void {
  entries.clear();
}

function keySet(document: JSONWebKeySet, fetchedAt: number, freshUntil: number): KeySet {
  const kids = new Set<string>();
  for (const key of document.keys) if (key.kid !== undefined) kids.add(key.kid);
  return { resolve: createLocalJWKSet(document), kids, fetchedAt, freshUntil };
}

/** One GET of the document: 200, JSON, a well-formed key set, under the size cap; else undefined. */
async function fetchKeys(
  uri: string,
  now: number,
): Promise<{ keys: KeySet; document: JSONWebKeySet } | undefined> {
  const origin = new URL(uri).origin;
  let res: Response;
  try {
    // No redirects: the configured URI is the one trusted; a redirect is a failure.
    res = await fetch(uri, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (error) {
    log('warn', 'jwks fetch failed', { origin, error: errorName(error) });
    return undefined;
  }
  try {
    if (res.status !== 200) throw new RangeError('not 200');
    const document = DocumentSchema.parse(JSON.parse(await readCapped(res)));
    const maxAge = clampMaxAge(res.headers.get('cache-control'));
    return { keys: keySet(document, now, now + maxAge * 1000), document };
  } catch (error) {
    await res.body?.cancel().catch(() => undefined);
    log('warn', 'jwks document refused', { origin, status: res.status, error: errorName(error) });
    return undefined;
  }
}

/** The body as UTF-8, refused as soon as it passes the cap (never read whole first). */
async function readCapped(res: Response): Promise<string> {
  if (Number(res.headers.get('content-length') ?? '0') > MAX_DOCUMENT_BYTES)
    throw new RangeError('too large');
  const reader = res.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    if (!reader) break;
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_DOCUMENT_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new RangeError('too large');
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
}

/** The document's `max-age` (or `s-maxage`), clamped; `no-store`/`no-cache` count as the minimum. */
export function clampMaxAge(cacheControl: string | null): number {
  if (!cacheControl) return DEFAULT_MAX_AGE_S;
  if (/(?:^|[\s,])no-(?:store|cache)(?:$|[\s,=])/i.test(cacheControl)) return MIN_MAX_AGE_S;
  const match = cacheControl.match(/(?:^|[\s,])(?:s-maxage|max-age)\s*=\s*"?(\d{1,10})"?/i);
  if (!match?.[1]) return DEFAULT_MAX_AGE_S;
  return Math.min(MAX_MAX_AGE_S, Math.max(MIN_MAX_AGE_S, Number(match[1])));
}

/** The Cache API key of a document: a name of ours, never the IdP's URL (the zone may cache that). */
async function cacheKey(uri: string): Promise<Request> {
  const digest = await sha256Hex(new TextEncoder().encode(uri));
  return new Request(`https://jwks.epsimo-edge.internal/${digest}`);
}

/**
 * The document another isolate of this location stored, if still usable. The Cache API
 * is a shared optimisation, not a source of truth: any failure reads as a miss.
 */
async function fromCache(uri: string, now: number): Promise<KeySet | undefined> {
  try {
    const hit = await caches.default.match(await cacheKey(uri));
    if (!hit) return undefined;
    const stored = StoredSchema.parse(await hit.json());
    if (now >= stored.fetched_at + MAX_STALE_MS) return undefined;
    return keySet(stored.jwks, stored.fetched_at, stored.fresh_until);
  } catch (error) {
    log('warn', 'jwks cache read failed', { error: errorName(error) });
    return undefined;
  }
}

async function toCache(uri: string, document: JSONWebKeySet, keys: KeySet, now: number): Promise<void> {
  const seconds = Math.max(1, Math.floor((keys.fetchedAt + MAX_STALE_MS - now) / 1000));
  const body = JSON.stringify({ fetched_at: keys.fetchedAt, fresh_until: keys.freshUntil, jwks: document });
  try {
    await caches.default.put(
      await cacheKey(uri),
      new Response(body, {
        headers: { 'content-type': 'application/json', 'cache-control': `max-age=${seconds}` },
      }),
    );
  } catch (error) {
    log('warn', 'jwks cache write failed', { error: errorName(error) });
  }
}
