import type { Hono } from 'hono';
import { z } from 'zod';
import type { EmuEnv } from './http';
import type { IdpKey, IdpState, Universe } from './types';

/**
 * A stand-in identity provider (Clerk, Auth0, Supabase, Firebase, any OIDC issuer) on
 * every host: `GET /.well-known/jwks.json` serves the host's public keys, and the control
 * API mints tokens with its private keys, rotates them and breaks the document on
 * purpose. The keys are real (WebCrypto RSA 2048 / P-256), generated on first use.
 */

/** Paths of the IdP itself: not the Epsimo API, so never rate limited, delayed or counted as upstream. */
export const IDP_PREFIX = '/.well-known/';

export function emptyIdp(): IdpState {
  return { keys: [], served: null, mode: 'ok', max_age: 300, fetches: 0 };
}

const Alg = z.enum(['RS256', 'ES256']);
type Alg = z.infer<typeof Alg>;

const configSchema = z.strictObject({
  /** `ok`; `down`: 503; `bad`: 200 with a body that is not a key set. */
  mode: z.enum(['ok', 'down', 'bad']).optional(),
  max_age: z.number().int().nonnegative().optional(),
  /** A document to serve instead of the generated keys (tests that bring their own keys); null: back to ours. */
  jwks: z
    .looseObject({ keys: z.array(z.record(z.string(), z.unknown())) })
    .nullable()
    .optional(),
});
const rotateSchema = z.strictObject({ alg: Alg.optional(), keep_previous: z.boolean().optional() });
const tokenSchema = z.strictObject({
  claims: z.record(z.string(), z.unknown()).optional(),
  alg: Alg.optional(),
  kid: z.string().optional(),
});

const PARAMS: Record<Alg, { generate: SubtleCryptoGenerateKeyAlgorithm; sign: SubtleCryptoSignAlgorithm }> = {
  RS256: {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  ES256: { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
};

async function generate(u: Universe, alg: Alg): Promise<IdpKey> {
  const pair = await crypto.subtle.generateKey(PARAMS[alg].generate, true, ['sign', 'verify']);
  if (!('privateKey' in pair)) throw new Error('expected a key pair');
  const exported = await crypto.subtle.exportKey('jwk', pair.publicKey);
  if (exported instanceof ArrayBuffer) throw new Error('expected a JWK');
  const kid = `emu-${alg.toLowerCase()}-${u.idp.keys.length + 1}-${crypto.randomUUID().slice(0, 8)}`;
  const { kty, n, e, crv, x, y } = exported;
  const jwk = Object.fromEntries(
    Object.entries({ kty, n, e, crv, x, y, kid, alg, use: 'sig' }).filter(([, v]) => v !== undefined),
  );
  const key: IdpKey = { kid, alg, privateKey: pair.privateKey, jwk };
  u.idp.keys.push(key);
  return key;
}

const b64url = (bytes: Uint8Array): string => {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
};
const b64urlJson = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

/** Signs `claims` as a compact JWT with `key` (the header names its `kid`). */
export async function signIdpToken(key: IdpKey, claims: Record<string, unknown>): Promise<string> {
  const input = `${b64urlJson({ alg: key.alg, typ: 'JWT', kid: key.kid })}.${b64urlJson(claims)}`;
  const signature = await crypto.subtle.sign(
    PARAMS[key.alg === 'ES256' ? 'ES256' : 'RS256'].sign,
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

function view(u: Universe) {
  const { mode, max_age, fetches, served } = u.idp;
  return { mode, max_age, fetches, kids: u.idp.keys.map((k) => k.kid), custom_document: served !== null };
}

async function body(req: Request): Promise<unknown> {
  const text = await req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Registers the IdP routes; before the control routes (their catch-all would answer first). */
export function registerIdpRoutes(app: Hono<EmuEnv>): void {
  app.get('/.well-known/jwks.json', (c) => {
    const { idp } = c.var.u;
    idp.fetches += 1;
    if (idp.mode === 'down') return c.json({ error: 'Service Unavailable' }, 503);
    if (idp.mode === 'bad') return c.html('<html><body>Sign in</body></html>');
    const document = idp.served ?? { keys: idp.keys.map((k) => k.jwk) };
    return c.json(document, 200, { 'cache-control': `public, max-age=${idp.max_age}` });
  });

  app.get('/__emulator/idp', (c) => c.json(view(c.var.u)));

  app.post('/__emulator/idp', async (c) => {
    const parsed = configSchema.safeParse(await body(c.req.raw));
    if (!parsed.success) return c.json({ error: 'Bad Request', issues: parsed.error.issues }, 400);
    const { idp } = c.var.u;
    if (parsed.data.mode !== undefined) idp.mode = parsed.data.mode;
    if (parsed.data.max_age !== undefined) idp.max_age = parsed.data.max_age;
    if (parsed.data.jwks !== undefined) idp.served = parsed.data.jwks;
    return c.json(view(c.var.u));
  });

  app.post('/__emulator/idp/rotate', async (c) => {
    const parsed = rotateSchema.safeParse(await body(c.req.raw));
    if (!parsed.success) return c.json({ error: 'Bad Request', issues: parsed.error.issues }, 400);
    const u = c.var.u;
    const previous = u.idp.keys;
    if (parsed.data.keep_previous === false) u.idp.keys = [];
    const key = await generate(u, parsed.data.alg ?? 'RS256');
    return c.json({
      ...view(u),
      current: key.kid,
      dropped: parsed.data.keep_previous === false ? previous.length : 0,
    });
  });

  app.post('/__emulator/idp/token', async (c) => {
    const parsed = tokenSchema.safeParse(await body(c.req.raw));
    if (!parsed.success) return c.json({ error: 'Bad Request', issues: parsed.error.issues }, 400);
    const u = c.var.u;
    const alg = parsed.data.alg ?? 'RS256';
    const wanted = parsed.data.kid;
    const key = wanted
      ? u.idp.keys.find((k) => k.kid === wanted)
      : (u.idp.keys.findLast((k) => k.alg === alg) ?? (await generate(u, alg)));
    if (!key) return c.json({ error: 'Not Found', detail: `No key ${wanted}` }, 404);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: new URL(c.req.url).origin,
      aud: 'epsimo-edge',
      sub: 'idp-user',
      iat: now,
      exp: now + 3600,
      ...parsed.data.claims,
    };
    return c.json({ token: await signIdpToken(key, claims), kid: key.kid });
  });
}
