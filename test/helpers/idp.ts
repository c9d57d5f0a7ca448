/**
 * A test identity provider: real key pairs made with jose in the test, their public
 * halves published through the emulator's JWKS route on a host of their own, and tokens
 * signed the way Clerk, Auth0, Supabase or Firebase sign theirs.
 */
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { vi } from 'vitest';
import { JsonObject, parseJson } from '../helpers/json';
import { nowSeconds } from './assertions';

export type TestAlg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA';

interface TestKey {
  kid: string;
  alg: TestAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

const unique = () => crypto.randomUUID().replaceAll('-', '').slice(0, 12);

async function control(url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  if (!res.ok) throw new Error(`idp control ${url}: ${res.status} ${await res.text()}`);
  return await parseJson(res, JsonObject);
}

export class TestIdp {
  /** `https://idp-<unique>.test`: its own emulator universe and its own key cache entry. */
  readonly origin = `https://idp-${unique()}.test`;
  readonly uri = `${this.origin}/.well-known/jwks.json`;
  readonly keys: TestKey[] = [];

  /** Makes a key pair and publishes the whole set (so the IdP "rotates in" a key). */
  async addKey(alg: TestAlg = 'RS256', options: { publish?: boolean; kid?: string } = {}): Promise<string> {
    const pair = await generateKeyPair(alg, { extractable: true });
    const kid = options.kid ?? `${alg.toLowerCase()}-${unique()}`;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, use: 'sig' };
    this.keys.push({ kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk });
    if (options.publish !== false) await this.publish();
    return kid;
  }

  /** Serves these keys (default: all of them) as the JWKS document. */
  async publish(kids: string[] = this.keys.map((k) => k.kid)): Promise<void> {
    const keys = this.keys.filter((k) => kids.includes(k.kid)).map((k) => k.jwk);
    await control(`${this.origin}/__emulator/idp`, { jwks: { keys } });
  }

  /** The emulator's IdP knobs: `mode` (`ok`, `down`, `bad`) and `max_age`. */
  async configure(knobs: { mode?: 'ok' | 'down' | 'bad'; max_age?: number }): Promise<void> {
    await control(`${this.origin}/__emulator/idp`, knobs);
  }

  /** How many times the JWKS document was fetched. */
  async fetches(): Promise<number> {
    return Number((await control(`${this.origin}/__emulator/idp`)).fetches);
  }

  key(kid?: string): TestKey {
    const key = kid ? this.keys.find((k) => k.kid === kid) : this.keys[0];
    if (!key) throw new Error(`no key ${kid}`);
    return key;
  }

  /** The public key as PEM (what an algorithm-confusion attacker uses as an HMAC secret). */
  async publicPem(kid?: string): Promise<string> {
    return exportSPKI(this.key(kid).publicKey);
  }

  /**
   * Signs `claims` (defaults: `iss` this IdP, `sub`, `iat` now, `exp` in 10 min) with the
   * key `kid` (default: the first), its own `alg` unless `header` overrides it.
   */
  async sign(
    claims: Record<string, unknown>,
    options: { kid?: string | null; header?: Record<string, unknown>; with?: CryptoKey | Uint8Array } = {},
  ): Promise<string> {
    const key = this.key(options.kid ?? undefined);
    const now = nowSeconds();
    const { alg = key.alg, ...rest } = options.header ?? {};
    const header = {
      typ: 'JWT',
      ...(options.kid === null ? {} : { kid: key.kid }),
      ...rest,
      alg: String(alg),
    };
    return new SignJWT({ iss: this.origin, sub: 'idp-user', iat: now, exp: now + 600, ...claims })
      .setProtectedHeader(header)
      .sign(options.with ?? key.privateKey);
  }
}

/** A tenant that takes this IdP's tokens (no session secret), with `jwks` overrides. */
export function idpTenant(idp: TestIdp, jwks: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project_id: 'proj_acme',
    assistants: ['asst_support'],
    auth: {
      jwks: {
        uri: idp.uri,
        issuer: idp.origin,
        audience: 'epsimo-edge',
        algorithms: ['RS256', 'ES256'],
        ...jwks,
      },
    },
  };
}

/** Moves the clock `seconds` ahead (Date only: timers and I/O run as usual). */
export function advanceClock(seconds: number): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + seconds * 1000);
}
