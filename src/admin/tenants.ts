import { z } from 'zod';
import { type Config, tenantProblem } from '../config';
import { ApiError } from '../errors';
import { validationError } from '../middleware/validate';
import { registryCache, tenantsOf } from '../registry';
import {
  deleteTenant,
  type IssuerClaim,
  readTenant,
  readTenants,
  type TenantRow,
  writeTenant,
} from '../registry/store';
import { type Tenant, TenantSchema } from '../tenant';
import { MaskError, mergePatch, redact, type TenantEntry, unmask } from './secrets';

/**
 * The admin API's tenant operations (contract section 6) on the D1 registry. Every write
 * is validated by the same schema as a `TENANTS` entry (and the checks that span
 * tenants), stored as written, audited in the same transaction, and made visible to
 * this isolate at once and to every other within the registry cache's 25 s.
 */

/** A tenant as the admin API shows it: its row's facts and its entry with secrets masked. */
export interface TenantView {
  id: string;
  source: TenantRow['source'];
  created_at: string;
  updated_at: string;
  /** The entry with every default filled in, each secret as `****` + its last 4 characters. */
  config: Record<string, unknown>;
}

const parseEntry = (text: string): TenantEntry | undefined => {
  try {
    const parsed = TenantSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

/** The view of a row; a row that no longer parses shows no config (and is not served). */
export function viewOf(row: TenantRow): TenantView {
  const entry = parseEntry(row.config);
  return {
    id: row.id,
    source: row.source,
    created_at: row.created_at,
    updated_at: row.updated_at,
    config: entry ? redact(entry) : {},
  };
}

/** Every tenant not deleted. */
export async function listTenants(db: D1Database): Promise<TenantView[]> {
  return (await readTenants(db)).filter((row) => row.deleted_at === null).map(viewOf);
}

/** One tenant, or `404`. */
export async function getTenant(db: D1Database, id: string): Promise<TenantView> {
  const row = await readTenant(db, id);
  if (!row || row.deleted_at !== null) throw new ApiError('NOT_FOUND', 'No such tenant.');
  return viewOf(row);
}

/** `body` with its masked secrets resolved against `stored`; a mask that stands for none is a `400`. */
function unmasked(body: unknown, stored: TenantEntry | undefined): unknown {
  try {
    return unmask(body, stored);
  } catch (error) {
    if (error instanceof MaskError)
      throw new ApiError('VALIDATION_ERROR', error.message, { field: error.field });
    throw error;
  }
}

/** Another tenant has the issuer without a distinct audience: a token could not name one tenant. */
const issuerTaken = () =>
  new ApiError('VALIDATION_ERROR', 'auth.jwks: another tenant has this issuer without a distinct audience.', {
    field: 'auth.jwks',
  });

/**
 * Validates `raw` as tenant `id` of the registry in `db`: the `TENANTS` schema, an IdP
 * URL that may be fetched, and no other tenant with the same issuer unless both have
 * distinct audiences (a token must name one tenant). Throws the `400` naming the field.
 * Resolves to the issuer the write must claim: the check here answers the common case
 * with a clear error, the write's own guard (registry/store.ts `ISSUER_TAKEN`) closes the
 * race between this read and that write.
 */
async function validate(
  db: D1Database,
  config: Config,
  id: string,
  raw: unknown,
): Promise<IssuerClaim | undefined> {
  const parsed = TenantSchema.safeParse(raw);
  if (!parsed.success) throw validationError(parsed.error.issues[0]);
  // Its scope is no concern of these checks.
  const tenant: Tenant = { ...parsed.data, id, scope: id };
  const problem = tenantProblem(tenant, config.localDev);
  if (problem) throw new ApiError('VALIDATION_ERROR', problem, { field: problem.split(':')[0] });
  const jwks = tenant.auth?.jwks;
  if (!jwks) return undefined;
  for (const other of tenantsOf(await readTenants(db), config.localDev).tenants.values()) {
    const theirs = other.auth?.jwks;
    if (other.id === id || !theirs || theirs.issuer !== jwks.issuer) continue;
    if (theirs.audience === undefined || jwks.audience === undefined || theirs.audience === jwks.audience) {
      throw issuerTaken();
    }
  }
  return { issuer: jwks.issuer, audience: jwks.audience };
}

/** The top-level field names of a JSON object (for the audit trail: names, never values). */
const fieldsOf = (value: unknown): string[] => {
  const parsed = z.record(z.string(), z.unknown()).safeParse(value);
  return parsed.success ? Object.keys(parsed.data).sort() : [];
};

/** Creates or replaces tenant `id`; resolves to its view and whether it is new. */
export async function putTenant(
  env: Env,
  config: Config,
  operator: string,
  id: string,
  body: unknown,
): Promise<{ view: TenantView; created: boolean }> {
  const db = env.REGISTRY;
  const row = await readTenant(db, id);
  const stored = row && row.deleted_at === null ? parseEntry(row.config) : undefined;
  const raw = unmasked(body, stored);
  const claim = await validate(db, config, id, raw);
  const created = !row || row.deleted_at !== null;
  const written = await writeTenant(
    db,
    id,
    JSON.stringify(raw),
    {
      actor: operator,
      action: created ? 'tenant.create' : 'tenant.replace',
      tenant: id,
      detail: { fields: fieldsOf(raw) },
    },
    claim,
  );
  // Only the issuer guard holds back a write without `rev`: a tenant claimed it meanwhile.
  if (!written) throw issuerTaken();
  registryCache(db).invalidate();
  return { view: await getTenant(db, id), created };
}

/** How often a PATCH re-reads and re-applies when another write came in between. */
const PATCH_ATTEMPTS = 3;

/** Applies a JSON merge patch to tenant `id` (RFC 7396); `404` when there is none. */
export async function patchTenant(
  env: Env,
  config: Config,
  operator: string,
  id: string,
  patch: unknown,
): Promise<TenantView> {
  const db = env.REGISTRY;
  for (let attempt = 0; attempt < PATCH_ATTEMPTS; attempt++) {
    const row = await readTenant(db, id);
    if (!row || row.deleted_at !== null) throw new ApiError('NOT_FOUND', 'No such tenant.');
    let written: unknown;
    try {
      written = JSON.parse(row.config);
    } catch {
      written = {};
    }
    const stored = parseEntry(row.config);
    const raw = mergePatch(written, unmasked(patch, stored));
    // A write held back by the issuer guard is read again like one that lost to another
    // write: the next round's validate names the taken issuer.
    const claim = await validate(db, config, id, raw);
    const changed = await writeTenant(
      db,
      id,
      JSON.stringify(raw),
      { actor: operator, action: 'tenant.patch', tenant: id, detail: { fields: fieldsOf(patch) } },
      claim,
      row.rev,
    );
    if (changed) {
      registryCache(db).invalidate();
      return getTenant(db, id);
    }
  }
  throw new ApiError('REGISTRY_UNAVAILABLE', 'The tenant kept changing while it was patched; try again.', {
    retryAfter: 1,
  });
}

/** Deletes tenant `id`: its tokens, hooks and runs are refused from the next registry read. */
export async function removeTenant(env: Env, operator: string, id: string): Promise<void> {
  const removed = await deleteTenant(env.REGISTRY, id, {
    actor: operator,
    action: 'tenant.delete',
    tenant: id,
  });
  if (!removed) throw new ApiError('NOT_FOUND', 'No such tenant.');
  registryCache(env.REGISTRY).invalidate();
}
