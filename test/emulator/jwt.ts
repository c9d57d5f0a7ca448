import { sign, verify } from 'hono/jwt';
import { accountById } from './state';
import type { Account, Project, Universe } from './types';

/** Emulator-internal signing secret. Tokens are also checked against the universe's registry. */
const SECRET = 'epsimo-emulator-internal-signing-secret-5d0c';

export type TokenScope = 'account' | `project:${string}`;

export async function issueToken(u: Universe, sub: string, scope: TokenScope): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + u.knobs.token_ttl_seconds;
  const jti = `jti_${u.tokens.size + 1}_${crypto.randomUUID()}`;
  const token = await sign({ sub, scope, iat, exp, jti }, SECRET, 'HS256');
  u.tokens.set(jti, { sub, scope, exp, revoked: false });
  u.stats.tokens_issued.push(token);
  return token;
}

/** The token fields a login / project response carries, per the `token_field` knob. */
export function tokenFields(u: Universe, token: string): Record<string, string> {
  const field = u.knobs.token_field;
  if (field === 'all') return { access_token: token, token, jwt_token: token };
  return { [field]: token };
}

export function revokeAll(u: Universe): number {
  let n = 0;
  for (const rec of u.tokens.values()) {
    if (!rec.revoked) n += 1;
    rec.revoked = true;
  }
  return n;
}

interface Claims {
  sub: string;
  scope: string;
}

/** Verifies signature, expiry and the universe's registry (unknown / revoked = invalid). */
async function claimsOf(u: Universe, authorization: string | undefined): Promise<Claims | null> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  const token = match?.[1];
  if (!token) return null;
  try {
    const payload = await verify(token, SECRET, 'HS256');
    const jti = typeof payload.jti === 'string' ? payload.jti : '';
    const rec = u.tokens.get(jti);
    if (!rec || rec.revoked || rec.exp <= Math.floor(Date.now() / 1000)) return null;
    return { sub: rec.sub, scope: rec.scope };
  } catch {
    return null;
  }
}

export async function authenticateAccount(
  u: Universe,
  authorization: string | undefined,
): Promise<Account | null> {
  const claims = await claimsOf(u, authorization);
  if (claims?.scope !== 'account') return null;
  return accountById(u, claims.sub) ?? null;
}

export async function authenticateProject(
  u: Universe,
  authorization: string | undefined,
): Promise<Project | null> {
  const claims = await claimsOf(u, authorization);
  if (!claims?.scope.startsWith('project:')) return null;
  const project = u.projects.get(claims.scope.slice('project:'.length));
  if (!project || project.owner !== claims.sub) return null;
  return project;
}
