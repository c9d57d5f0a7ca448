/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com), with WebCrypto:
 * `v1,` + base64 HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${payload}` with
 * the key that follows `whsec_` (base64). Done by hand rather than with the
 * `standardwebhooks` package because the gateway needs what that package does not do:
 * the payload as raw bytes (a body that is not UTF-8 must not be re-encoded before
 * checking), ids containing `.` rejected, a strict integer timestamp and an injectable
 * clock. The tests cross-check both ways against the package and the spec's vector.
 */

/** How far a timestamp may be from now, either way (seconds). */
export const TOLERANCE_SECONDS = 5 * 60;
/** Signatures looked at per request (key rotation needs two or three). */
const MAX_SIGNATURES = 8;
const MAX_SIGNATURE_HEADER = 4096;
/** Visible ASCII without `.` (which would make `id.timestamp.body` ambiguous). */
const ID_PATTERN = /^[\x21-\x2d\x2f-\x7e]{1,256}$/;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;
const HMAC_BYTES = 32;

const encoder = new TextEncoder();

/** Why a request was not verified; logged, never sent (every reason answers the same 401). */
export type VerifyFailure = 'missing_headers' | 'bad_id' | 'bad_timestamp' | 'stale_timestamp' | 'no_match';

/** The three Standard Webhooks headers, as received. */
export interface WebhookHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** Headers that passed the checks that need no body: present, well-formed, fresh. */
export interface CheckedHeaders {
  id: string;
  timestamp: number;
  /** The decoded `v1` signatures; other versions are ignored. */
  signatures: Uint8Array[];
}

export type HeaderCheck = { ok: true; headers: CheckedHeaders } | { ok: false; reason: VerifyFailure };
export type Verification = { ok: true; id: string; timestamp: number } | { ok: false; reason: VerifyFailure };

/** Reads the Standard Webhooks headers of a request (names are case-insensitive). */
export function webhookHeaders(headers: Headers): WebhookHeaders {
  return {
    id: headers.get('webhook-id') ?? undefined,
    timestamp: headers.get('webhook-timestamp') ?? undefined,
    signature: headers.get('webhook-signature') ?? undefined,
  };
}

/**
 * Everything that can be checked before the body is read: the headers are present, the
 * id is visible ASCII without `.`, the timestamp is integer seconds within
 * {@link TOLERANCE_SECONDS} of `nowMs` either way, and at least one `v1,<base64>`
 * signature (space-separated list; unknown versions ignored) has the right length.
 */
export function checkHeaders(headers: WebhookHeaders, nowMs: number = Date.now()): HeaderCheck {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (!ID_PATTERN.test(id)) return { ok: false, reason: 'bad_id' };
  if (!TIMESTAMP_PATTERN.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const seconds = Number(timestamp);
  if (Math.abs(Math.floor(nowMs / 1000) - seconds) > TOLERANCE_SECONDS) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  if (signature.length > MAX_SIGNATURE_HEADER) return { ok: false, reason: 'no_match' };
  const signatures: Uint8Array[] = [];
  for (const entry of signature.split(' ').slice(0, MAX_SIGNATURES)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const bytes = fromBase64(entry.slice(comma + 1));
    if (bytes?.byteLength === HMAC_BYTES) signatures.push(bytes);
  }
  if (signatures.length === 0) return { ok: false, reason: 'no_match' };
  return { ok: true, headers: { id, timestamp: seconds, signatures } };
}

/**
 * What each use of a webhook secret signs, so a signature made for one use is worthless
 * for another: inbound webhooks sign the raw body as the Standard Webhooks spec says (no
 * prefix, so any sender library works); status lookups and the gateway's own result
 * callbacks sign these prefixes followed by their payload. Inbound bodies must be JSON,
 * which never starts with `e`, so the three sets of signed messages are disjoint.
 */
export const SIGNED_PREFIX = {
  lookup: 'epsimo-edge.lookup.',
  callback: 'epsimo-edge.callback.',
} as const;

/** One secret or several (rotation): a signature by any of them is accepted. */
export type Secrets = string | readonly string[];

const secretList = (secrets: Secrets): readonly string[] =>
  typeof secrets === 'string' ? [secrets] : secrets;

/**
 * Whether one of the checked signatures is the HMAC of `id.timestamp.payload` under one
 * of `secrets`. Each comparison is constant-time (`crypto.subtle.timingSafeEqual`), and
 * every secret and candidate is compared: the time does not depend on which matched.
 */
export async function matchesSignature(
  secrets: Secrets,
  headers: CheckedHeaders,
  payload: Uint8Array,
): Promise<boolean> {
  let matched = false;
  for (const secret of secretList(secrets)) {
    const expected = await hmac(secret, headers.id, headers.timestamp, payload);
    for (const candidate of headers.signatures) {
      if (crypto.subtle.timingSafeEqual(candidate, expected)) matched = true;
    }
  }
  return matched;
}

/** Header checks and signature match in one call (status lookups, tests). */
export async function verifyWebhook(
  secrets: Secrets,
  headers: WebhookHeaders,
  payload: Uint8Array | string,
  nowMs: number = Date.now(),
): Promise<Verification> {
  const checked = checkHeaders(headers, nowMs);
  if (!checked.ok) return checked;
  const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload;
  if (!(await matchesSignature(secrets, checked.headers, bytes))) return { ok: false, reason: 'no_match' };
  return { ok: true, id: checked.headers.id, timestamp: checked.headers.timestamp };
}

/** `v1,<base64>`: the signature of `payload` sent with `id` at `timestamp` (seconds). */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  payload: Uint8Array | string,
): Promise<string> {
  const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload;
  return `v1,${toBase64(await hmac(secret, id, timestamp, bytes))}`;
}

/**
 * The three headers for an outgoing message, signed with every one of `secrets` (the
 * Standard Webhooks multi-signature header: space-separated `v1,` entries), so a receiver
 * holding any active secret verifies it while the secret rotates.
 */
export async function signedHeaders(
  secrets: Secrets,
  id: string,
  payload: string,
  nowMs: number = Date.now(),
): Promise<Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>> {
  const timestamp = Math.floor(nowMs / 1000);
  const signatures: string[] = [];
  for (const secret of secretList(secrets))
    signatures.push(await signWebhook(secret, id, timestamp, payload));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

/** The key bytes of a `whsec_` secret (base64 after the prefix). */
export function secretKey(secret: string): Uint8Array {
  const key = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  if (!key || key.byteLength === 0) throw new Error('webhook secret is not base64');
  return key;
}

async function hmac(secret: string, id: string, timestamp: number, payload: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    'raw',
    secretKey(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const message = new Uint8Array(prefix.byteLength + payload.byteLength);
  message.set(prefix, 0);
  message.set(payload, prefix.byteLength);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, message));
}

function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
