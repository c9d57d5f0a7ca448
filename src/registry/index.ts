import { issuerIndex } from '../auth/schema';
import { type Config, type ConfigResult, loadConfig, tenantProblem } from '../config';
import { sha256Hex } from '../hash';
import { log } from '../log';
import { scopeOf, type Tenant, TenantSchema } from '../tenant';
import { RegistryCache, type Snapshot } from './cache';
import { readGeneration, readTenants, seedTenants, type TenantRow } from './store';

/**
 * The tenant registry of record (contract section 6): a D1 database (`REGISTRY`) the
 * operator edits through the admin API, seeded from `TENANTS`, read by every isolate
 * through a short-lived cache (registry/cache.ts). Without `REGISTRY`, `TENANTS` alone is
 * the registry, as before.
 */

const encoder = new TextEncoder();
const digests = new WeakMap<NonNullable<Config['seed']>, Promise<string>>();

/** The SHA-256 of a `TENANTS` value, computed once per isolate and value. */
function seedDigest(seed: NonNullable<Config['seed']>): Promise<string> {
  let digest = digests.get(seed);
  if (!digest) {
    digest = sha256Hex(encoder.encode(seed.text));
    digests.set(seed, digest);
  }
  return digest;
}

/** Parses the registry's rows like `TENANTS` entries; a row that no longer parses is left out and logged. */
export function tenantsOf(
  rows: readonly TenantRow[],
  localDev: boolean,
): Pick<Snapshot, 'tenants' | 'issuers'> {
  const tenants = new Map<string, Tenant>();
  for (const row of rows) {
    if (row.deleted_at !== null) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(row.config);
    } catch {
      raw = undefined;
    }
    const parsed = TenantSchema.safeParse(raw);
    const tenant = parsed.success
      ? { ...parsed.data, id: row.id, scope: scopeOf(row.id, row.epoch) }
      : undefined;
    const problem = tenant ? tenantProblem(tenant, localDev) : 'does not match the tenant schema';
    if (!tenant || problem) {
      log('error', 'registry tenant skipped', { tenant: row.id, problem });
      continue;
    }
    tenants.set(row.id, tenant);
  }
  const problems: string[] = [];
  const issuers = issuerIndex(tenants, problems);
  // The admin API refuses such a write; a registry edited by hand may still hold one.
  if (problems.length > 0) log('error', 'registry issuers ambiguous', { problems });
  return { tenants, issuers };
}

/** Reads the registry in `db` for `base`, seeding `base.seed` first when it never was. */
export function loader(db: D1Database) {
  return async (base: Config, known: Snapshot | undefined): Promise<Snapshot> => {
    const digest = base.seed ? await seedDigest(base.seed) : undefined;
    let state = await readGeneration(db, digest);
    if (base.seed && digest && !state.seeded) {
      await seedTenants(db, digest, base.seed.entries);
      state = await readGeneration(db, digest);
    }
    const checkedAt = Date.now();
    if (known && known.generation === state.generation && state.generation !== null) {
      return { ...known, seed: base.seed, checkedAt };
    }
    const rows = await readTenants(db);
    return {
      generation: state.generation,
      ...tenantsOf(rows, base.localDev),
      known: new Map(rows.map((row) => [row.id, row.epoch])),
      seed: base.seed,
      checkedAt,
    };
  };
}

const caches = new WeakMap<D1Database, RegistryCache>();

/** The isolate's cache of the registry in `db`. */
export function registryCache(db: D1Database): RegistryCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new RegistryCache(loader(db));
    caches.set(db, cache);
  }
  return cache;
}

let composed: { base: Config; tenants: Config['tenants']; config: Config } | undefined;

/** `base` with the snapshot's tenants; the same object while neither changes. */
function withTenants(base: Config, snapshot: Snapshot): Config {
  if (composed?.base === base && composed.tenants === snapshot.tenants) return composed.config;
  const config: Config = { ...base, tenants: snapshot.tenants, issuers: snapshot.issuers };
  composed = { base, tenants: snapshot.tenants, config };
  return config;
}

/**
 * The configuration in force for `env`: the bindings (parsed once per isolate) and, when
 * `REGISTRY` is bound, the registry's tenants (cached, see registry/cache.ts). Throws
 * `503 REGISTRY_UNAVAILABLE` when the registry cannot be read and no recent copy exists.
 */
export async function currentConfig(
  env: Env,
  defer?: (work: Promise<unknown>) => void,
): Promise<ConfigResult> {
  const result = loadConfig(env);
  if (!result.ok || !result.config.registry) return result;
  const snapshot = await registryCache(env.REGISTRY).get(result.config, defer);
  return { ok: true, config: withTenants(result.config, snapshot) };
}

/**
 * Every tenant id the registry knows (deleted ones included), each with the scopes of all
 * its incarnations, oldest first: a usage export sums them (the usage of a tenant deleted
 * and created again stays exportable). An id it does not know has only its first scope.
 */
export async function knownScopes(env: Env, config: Config): Promise<ReadonlyMap<string, readonly string[]>> {
  const epochs = config.registry
    ? (await registryCache(env.REGISTRY).get(config)).known
    : new Map([...config.tenants.keys()].map((id) => [id, 0]));
  const scopes = new Map<string, string[]>();
  for (const [id, epoch] of epochs) {
    scopes.set(
      id,
      Array.from({ length: epoch + 1 }, (_, n) => scopeOf(id, n)),
    );
  }
  return scopes;
}
