import { z } from 'zod';
import type { TenantSchema } from '../tenant';

/**
 * Secrets are write-only in the admin API: a tenant is shown with each secret as `****`
 * and its last 4 characters (with its `kid` where it has one), and that same mask, sent
 * back in a PUT or PATCH, stands for the stored secret it came from. So an operator can
 * GET a tenant, change a limit and PUT it back without ever holding its secrets, and
 * rotate one by adding a new `auth.hs256` entry next to the masked old one.
 */

/** An entry of the tenant schema, parsed (defaults filled in). */
export type TenantEntry = z.output<typeof TenantSchema>;

const MASK = '****';
const MASKED = /^\*{4}[\x20-\x7e]{4}$/;

/** `****` and the last 4 characters: all of a secret the admin API ever shows. */
export const mask = (secret: string): string => `${MASK}${secret.slice(-4)}`;

/** The tenant as the admin API shows it: every field, each secret masked. */
export function redact(tenant: TenantEntry): Record<string, unknown> {
  const { session_secret, webhook_secret, webhook_secrets, auth, ...rest } = tenant;
  const view: Record<string, unknown> = { ...rest };
  if (session_secret !== undefined) view.session_secret = mask(session_secret);
  if (auth !== undefined) {
    view.auth = {
      ...auth,
      ...(auth.hs256 ? { hs256: auth.hs256.map((key) => ({ kid: key.kid, secret: mask(key.secret) })) } : {}),
    };
  }
  if (webhook_secret !== undefined) view.webhook_secret = mask(webhook_secret);
  if (webhook_secrets !== undefined) view.webhook_secrets = webhook_secrets.map(mask);
  return view;
}

const Obj = z.record(z.string(), z.unknown());

/** A mask that stands for no stored secret, or for more than one. */
export class MaskError extends Error {
  override readonly name = 'MaskError';
  readonly field: string;

  constructor(field: string) {
    super(`${field}: a masked secret must stand for exactly one stored secret of this tenant`);
    this.field = field;
  }
}

/** The stored secrets a mask may stand for, by kind (HS256 secrets, webhook secrets). */
function storedSecrets(stored: TenantEntry | undefined) {
  const hs = [
    ...(stored?.session_secret ? [{ kid: undefined, secret: stored.session_secret }] : []),
    ...(stored?.auth?.hs256 ?? []),
  ];
  const webhook = [
    ...(stored?.webhook_secret ? [stored.webhook_secret] : []),
    ...(stored?.webhook_secrets ?? []),
  ];
  return { hs, webhook };
}

/**
 * `body` with every masked secret replaced by the stored secret it stands for: the one
 * of its kind ending in the same 4 characters (an HS256 key's own `kid` first). Throws
 * {@link MaskError} (naming the field) for a mask that stands for none or several.
 * Anything that is not a mask is left for the schema to judge.
 */
export function unmask(body: unknown, stored: TenantEntry | undefined): unknown {
  const top = Obj.safeParse(body);
  if (!top.success) return body;
  const { hs, webhook } = storedSecrets(stored);
  const pick = (value: unknown, candidates: string[], field: string): unknown => {
    if (typeof value !== 'string' || !MASKED.test(value)) return value;
    const tail = value.slice(MASK.length);
    const matches = [...new Set(candidates.filter((secret) => secret.endsWith(tail)))];
    if (matches.length !== 1 || matches[0] === undefined) throw new MaskError(field);
    return matches[0];
  };
  const out: Record<string, unknown> = { ...top.data };
  const hsSecrets = hs.map((key) => key.secret);
  if ('session_secret' in out) out.session_secret = pick(out.session_secret, hsSecrets, 'session_secret');
  if ('webhook_secret' in out) out.webhook_secret = pick(out.webhook_secret, webhook, 'webhook_secret');
  const secrets = z.array(z.unknown()).safeParse(out.webhook_secrets);
  if (secrets.success) {
    out.webhook_secrets = secrets.data.map((value, i) => pick(value, webhook, `webhook_secrets.${i}`));
  }
  const auth = Obj.safeParse(out.auth);
  const keys = z.array(z.unknown()).safeParse(auth.success ? auth.data.hs256 : undefined);
  if (auth.success && keys.success) {
    const hs256 = keys.data.map((entry, i) => {
      const key = Obj.safeParse(entry);
      if (!key.success) return entry;
      const sameKid = hs.filter((k) => k.kid !== undefined && k.kid === key.data.kid).map((k) => k.secret);
      const field = `auth.hs256.${i}.secret`;
      let secret: unknown;
      try {
        secret = pick(key.data.secret, sameKid, field);
      } catch {
        secret = pick(key.data.secret, hsSecrets, field);
      }
      return { ...key.data, secret };
    });
    out.auth = { ...auth.data, hs256 };
  }
  return out;
}

/**
 * Applies a JSON merge patch (RFC 7396) to `target`: objects merge key by key, `null`
 * removes a key, anything else (arrays included) replaces what was there.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  const changes = Obj.safeParse(patch);
  if (!changes.success) return patch;
  const base = Obj.safeParse(target);
  const result: Record<string, unknown> = base.success ? { ...base.data } : {};
  for (const [key, value] of Object.entries(changes.data)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
