import { z } from 'zod';

/**
 * The D1 side of the tenant registry (migrations/0001_registry.sql): reads for the
 * per-isolate cache (registry/cache.ts) and the writes of the admin API, each write one
 * batch (a D1 transaction) together with its audit row and a new `generation`.
 */

/**
 * A tenant row: `config` is the entry as written (JSON), `rev` changes with every write,
 * `source` says whether `TENANTS` still owns it or the admin API does, `epoch` counts the
 * times the id was created again after a delete (its objects' names: tenant.ts `scopeOf`).
 */
export const TenantRowSchema = z.object({
  id: z.string(),
  config: z.string(),
  rev: z.string(),
  source: z.enum(['TENANTS', 'api']),
  created_at: z.string(),
  updated_at: z.string(),
  deleted_at: z.string().nullable(),
  epoch: z.number().int().nonnegative(),
});
export type TenantRow = z.infer<typeof TenantRowSchema>;

const GenerationSchema = z.object({ value: z.string() });
const AuditRowSchema = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  tenant: z.string().nullable(),
  subject: z.string().nullable(),
  detail: z.string().nullable(),
});
export type AuditRow = z.infer<typeof AuditRowSchema>;

/** Who made a change, what it was and what it touched (never a secret's value). */
export interface Change {
  actor: string;
  action: string;
  tenant: string;
  subject?: string;
  detail?: Record<string, unknown>;
}

const TENANT_COLUMNS = 'id, config, rev, source, created_at, updated_at, deleted_at, epoch';
const newToken = () => crypto.randomUUID();

/** What the cache reads to know whether its copy is current, and whether `digest` is seeded. */
export async function readGeneration(
  db: D1Database,
  digest: string | undefined,
): Promise<{ generation: string | null; seeded: boolean }> {
  const [generation, seeded] = await db.batch([
    db.prepare("SELECT value FROM registry_meta WHERE key = 'generation'"),
    db.prepare('SELECT 1 AS hit FROM seeds WHERE digest = ?').bind(digest ?? ''),
  ]);
  const row = GenerationSchema.array().parse(generation?.results ?? [])[0];
  return {
    generation: row?.value ?? null,
    seeded: digest === undefined || (seeded?.results.length ?? 0) > 0,
  };
}

/** Every tenant row, deleted ones included (their usage stays exportable). */
export async function readTenants(db: D1Database): Promise<TenantRow[]> {
  const result = await db.prepare(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY id`).all();
  return TenantRowSchema.array().parse(result.results);
}

/** One tenant row (deleted or not), or `undefined`. */
export async function readTenant(db: D1Database, id: string): Promise<TenantRow | undefined> {
  const row = await db.prepare(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ?`).bind(id).first();
  return row === null ? undefined : TenantRowSchema.parse(row);
}

/** An audit row's detail computed by SQL inside the write's batch, from what the write did. */
interface ComputedDetail {
  sql: string;
  binds: unknown[];
}

/**
 * The statements that follow a write in the same batch: its audit row (its detail
 * `change.detail`, or `computed`) and a new generation, each only if the statement before
 * it changed a row (`changes()`), so a guarded write that matched nothing leaves no trace.
 */
function afterWrite(
  db: D1Database,
  change: Change,
  at: string,
  computed?: ComputedDetail,
): D1PreparedStatement[] {
  const detail = computed ?? {
    sql: '?',
    binds: [change.detail === undefined ? null : JSON.stringify(change.detail)],
  };
  return [
    db
      .prepare(
        'INSERT INTO audit (at, actor, action, tenant, subject, detail) ' +
          `SELECT ?, ?, ?, ?, ?, ${detail.sql} WHERE changes() > 0`,
      )
      .bind(at, change.actor, change.action, change.tenant, change.subject ?? null, ...detail.binds),
    db
      .prepare(
        "INSERT INTO registry_meta (key, value) SELECT 'generation', ? WHERE changes() > 0 " +
          'ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .bind(newToken()),
  ];
}

/** The IdP issuer and audience a tenant's `auth.jwks` claims (contract section 2). */
export interface IssuerClaim {
  issuer: string;
  audience: string | undefined;
}

/** A field of another row's `auth.jwks`, `NULL` for a row that is not JSON (json_extract would fail the write). */
const jwksField = (field: 'issuer' | 'audience') =>
  `CASE WHEN json_valid(other.config) THEN json_extract(other.config, '$.auth.jwks.${field}') END`;

/**
 * Whether another live tenant has the issuer without a distinct audience (binds: id,
 * issuer, audience, audience). The same rule as auth/schema.ts `issuerIndex`, inside the
 * write itself: D1 is one SQLite database that runs one statement (and one batch) at a
 * time, so of two writes racing for an issuer the second sees the first's row, which it
 * could not between a separate read and a later write. Read from `config` (the entry as
 * written, which the schema does not rewrite), so no column needs backfilling.
 */
const ISSUER_TAKEN =
  'EXISTS (SELECT 1 FROM tenants AS other WHERE other.id <> ? AND other.deleted_at IS NULL ' +
  `AND ${jwksField('issuer')} = ? ` +
  `AND (? IS NULL OR ${jwksField('audience')} IS NULL OR ${jwksField('audience')} = ?))`;

/**
 * Creates or replaces tenant `id` with `config`. Creating a deleted id again is a new
 * tenant: its `epoch` goes up (new object names, nothing of the former one) and its
 * `created_at` is now. With `rev`, only if the row still has that revision (a
 * read-modify-write such as PATCH). With `claim`, only if no other live tenant has that
 * issuer without a distinct audience. Resolves to whether the write happened: without
 * `rev`, `false` means the issuer was taken.
 */
export async function writeTenant(
  db: D1Database,
  id: string,
  config: string,
  change: Change,
  claim: IssuerClaim | undefined,
  rev?: string,
): Promise<boolean> {
  const at = new Date().toISOString();
  // No claim binds a NULL issuer, which equals nothing: such a write is never held back.
  const guard = [id, claim?.issuer ?? null, claim?.audience ?? null, claim?.audience ?? null];
  const write =
    rev === undefined
      ? db
          .prepare(
            'INSERT INTO tenants (id, config, rev, created_at, updated_at) ' +
              `SELECT ?, ?, ?, ?, ? WHERE NOT ${ISSUER_TAKEN} ` +
              "ON CONFLICT (id) DO UPDATE SET config = excluded.config, rev = excluded.rev, source = 'api', " +
              // SET reads the row as it was: `deleted_at` is the old one in both CASEs.
              'updated_at = excluded.updated_at, deleted_at = NULL, ' +
              'epoch = CASE WHEN tenants.deleted_at IS NULL THEN tenants.epoch ELSE tenants.epoch + 1 END, ' +
              'created_at = CASE WHEN tenants.deleted_at IS NULL THEN tenants.created_at ELSE excluded.created_at END',
          )
          .bind(id, config, newToken(), at, at, ...guard)
      : db
          .prepare(
            "UPDATE tenants SET config = ?, rev = ?, source = 'api', updated_at = ? " +
              `WHERE id = ? AND rev = ? AND NOT ${ISSUER_TAKEN}`,
          )
          .bind(config, newToken(), at, id, rev, ...guard);
  const [result] = await db.batch([write, ...afterWrite(db, change, at)]);
  return (result?.meta.changes ?? 0) > 0;
}

/** Marks tenant `id` deleted; resolves to whether it existed and was not deleted already. */
export async function deleteTenant(db: D1Database, id: string, change: Change): Promise<boolean> {
  const at = new Date().toISOString();
  const [result] = await db.batch([
    db
      .prepare(
        "UPDATE tenants SET deleted_at = ?, updated_at = ?, rev = ?, source = 'api' WHERE id = ? AND deleted_at IS NULL",
      )
      .bind(at, at, newToken(), id),
    ...afterWrite(db, change, at),
  ]);
  return (result?.meta.changes ?? 0) > 0;
}

/**
 * Applies `TENANTS` (`entries`, by its `digest`) to the registry, once per value: each
 * entry is added, or replaces a row `TENANTS` still owns (rotating a secret by redeploying
 * works as before); a row the admin API created, edited or deleted is left as it is. A
 * tenant left out of a new `TENANTS` is not deleted (DELETE it through the admin API).
 * Idempotent: concurrent seeds of one value write the same rows. Its audit row (once per
 * value) lists the tenants it wrote.
 */
export async function seedTenants(
  db: D1Database,
  digest: string,
  entries: Readonly<Record<string, unknown>>,
): Promise<void> {
  const at = new Date().toISOString();
  const revs: string[] = [];
  const upserts = Object.entries(entries).map(([id, entry]) => {
    const rev = newToken();
    revs.push(rev);
    return db
      .prepare(
        "INSERT INTO tenants (id, config, rev, source, created_at, updated_at) VALUES (?, ?, ?, 'TENANTS', ?, ?) " +
          'ON CONFLICT (id) DO UPDATE SET config = excluded.config, rev = excluded.rev, ' +
          "updated_at = excluded.updated_at WHERE tenants.source = 'TENANTS' AND tenants.config <> excluded.config",
      )
      .bind(id, JSON.stringify(entry), rev, at, at);
  });
  // The audit names the tenants this seed wrote, not every id of TENANTS: a row the admin
  // API owns, or one already as TENANTS says, keeps its rev, so the rows holding one of
  // this seed's new revs are exactly the ones written. Read in the same batch (one
  // transaction); the revs travel as one JSON parameter (D1 caps a statement's binds).
  const written =
    'SELECT json_group_array(id) FROM ' +
    '(SELECT id FROM tenants WHERE rev IN (SELECT value FROM json_each(?)) ORDER BY id)';
  const detail = {
    sql: `json_object('digest', ?, 'tenants', json((${written})))`,
    binds: [digest, JSON.stringify(revs)],
  };
  const change: Change = { actor: 'TENANTS', action: 'registry.seed', tenant: '*' };
  await db.batch([
    ...upserts,
    db.prepare('INSERT OR IGNORE INTO seeds (digest, seeded_at) VALUES (?, ?)').bind(digest, at),
    ...afterWrite(db, change, at, detail),
  ]);
}

/** Records a change made elsewhere (a block, kept by the tenant's state object). */
export async function recordChange(db: D1Database, change: Change): Promise<void> {
  await db
    .prepare('INSERT INTO audit (at, actor, action, tenant, subject, detail) VALUES (?, ?, ?, ?, ?, ?)')
    .bind(
      new Date().toISOString(),
      change.actor,
      change.action,
      change.tenant,
      change.subject ?? null,
      change.detail === undefined ? null : JSON.stringify(change.detail),
    )
    .run();
}

/** The newest audit rows first, `limit` of them, optionally of one tenant. */
export async function readAudit(db: D1Database, limit: number, tenant?: string): Promise<AuditRow[]> {
  const result =
    tenant === undefined
      ? await db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').bind(limit).all()
      : await db
          .prepare('SELECT * FROM audit WHERE tenant = ? ORDER BY id DESC LIMIT ?')
          .bind(tenant, limit)
          .all();
  return AuditRowSchema.array().parse(result.results);
}
