import { z } from '@hono/zod-openapi';
import { HTTP_PROBLEM, issuerIndex, secureEnough } from './auth/schema';
import { type Tenant, TenantKeySchema, TenantSchema } from './tenant';

const TenantsSchema = z.record(TenantKeySchema, TenantSchema);

/** `ADMIN_KEY_HASHES`: comma-separated SHA-256 hex digests of the operator keys (empty: no keys). */
const AdminKeyHashesSchema = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[0-9a-f]{64}$/, 'must be comma-separated SHA-256 hex digests')).max(16));

/** A duration var (a string of milliseconds, 10 ms to 1 h) with its default. */
const millis = (fallback: number) => z.coerce.number().int().min(10).max(3_600_000).default(fallback);

/**
 * `METER_FLUSH_MS`: how long usage counts wait in memory before they are written (0-10000
 * ms). Read by each tenant's object from its own bindings; validated here with the rest, so
 * a bad value is `503 CONFIG_INVALID`, not a silent default.
 */
export const MeterFlushSchema = z.coerce.number().int().min(0).max(10_000).default(500);
/**
 * `UPSTREAM_TIMEOUT_MS`: each upstream try's timeout. Also read by each tenant's object from
 * its own bindings (a run key's binding outlasts it, objects/key-book.ts).
 */
export const UpstreamTimeoutSchema = millis(10_000);
/** `WEBHOOK_RETRY_BASE_SECONDS`: a delivery's first retry waits this long, then doubling (0-3600 s). */
export const RetryBaseSchema = z.coerce.number().int().min(0).max(3600).default(10);

/** The most one SSE event may weigh (bytes). */
export const MAX_EVENT_BYTES = 1024 * 1024;

/** Whether `url` parses with a user name or a password. */
function hasUserinfo(url: string): boolean {
  const parsed = URL.parse(url);
  return parsed !== null && (parsed.username !== '' || parsed.password !== '');
}

const BindingsSchema = z.object({
  EPSIMO_BASE_URL: z
    .url({ protocol: /^https?$/ })
    // Upstream paths are appended to this string: after a `?` or `#` they would land in
    // the query or fragment, so the login (with the account's credentials) would go to
    // the wrong resource. A bare `?` or `#` counts too, hence the raw text, not `URL.search`.
    .refine((url) => !/[?#]/.test(url), 'must have no query or fragment (an origin, optionally a path)')
    // Credentials in the URL would go out with every upstream call (and into any log of
    // a URL); the account's are EPSIMO_EMAIL and EPSIMO_PASSWORD. The message never
    // repeats them. An `@` before the path counts even when it names nobody (`https://@h`).
    .refine(
      (url) => !/^[^:]*:\/\/[^/\\]*@/.test(url) && !hasUserinfo(url),
      'must have no user name or password (the account is EPSIMO_EMAIL and EPSIMO_PASSWORD)',
    )
    .default('https://api.epsimoagents.com')
    .transform((url) => url.replace(/\/+$/, '')),
  EPSIMO_EMAIL: z.string().min(3),
  EPSIMO_PASSWORD: z.string().min(1),
  TENANTS: z.string().min(2).optional(),
  ADMIN_KEY_HASHES: AdminKeyHashesSchema,
  UPSTREAM_TIMEOUT_MS: UpstreamTimeoutSchema,
  STREAM_FIRST_BYTE_TIMEOUT_MS: millis(30_000),
  STREAM_IDLE_TIMEOUT_MS: millis(60_000),
  STREAM_MAX_DURATION_MS: millis(300_000),
  STREAM_PING_MS: millis(15_000),
  BODY_TIMEOUT_MS: millis(10_000),
  RUN_DETACH_GRACE_MS: millis(30_000),
  RUN_RETENTION_MS: millis(900_000),
  ACCOUNT_THREAD_RESERVE: z.coerce.number().int().min(0).max(1_000_000).default(10),
  METER_FLUSH_MS: MeterFlushSchema,
  WEBHOOK_RETRY_BASE_SECONDS: RetryBaseSchema,
  LOCAL_DEV: z.enum(['true', 'false']).default('false'),
});

/** The parsed, validated configuration of one isolate. */
export interface Config {
  upstream: { baseUrl: string; email: string; password: string; timeoutMs: number };
  stream: { firstByteTimeoutMs: number; idleTimeoutMs: number; maxDurationMs: number; pingMs: number };
  /** Runs: how long one waits for a caller to come back, and how long its log is kept after its end. */
  runs: { detachGraceMs: number; retentionMs: number };
  /** How long a request body may take to arrive (`BODY_TIMEOUT_MS`). */
  bodyTimeoutMs: number;
  /** Thread creation and runs stop for every tenant at this many threads left (`ACCOUNT_THREAD_RESERVE`). */
  accountThreadReserve: number;
  /** The tenants in force: `TENANTS`'s, or (with `REGISTRY` bound) the registry's (src/registry). */
  tenants: ReadonlyMap<string, Tenant>;
  /** Tenants with `auth.jwks`, by issuer: a token's `iss` (then `aud`) picks one. */
  issuers: ReadonlyMap<string, readonly Tenant[]>;
  /** Whether the tenants come from the D1 registry (`REGISTRY` bound) rather than `TENANTS` alone. */
  registry: boolean;
  /** `TENANTS` as written (entries unparsed, for seeding the registry), when set. */
  seed: { text: string; entries: Readonly<Record<string, unknown>> } | undefined;
  /** SHA-256 hex digests of the operator keys (`ADMIN_KEY_HASHES`); none: the admin API refuses all. */
  adminKeyDigests: readonly string[];
  /** `LOCAL_DEV=true`: `http:` URLs allowed beyond loopback hosts (auth/schema.ts `secureEnough`). */
  localDev: boolean;
}

const NUMERIC_VARS = [
  'UPSTREAM_TIMEOUT_MS',
  'STREAM_FIRST_BYTE_TIMEOUT_MS',
  'STREAM_IDLE_TIMEOUT_MS',
  'STREAM_MAX_DURATION_MS',
  'STREAM_PING_MS',
  'BODY_TIMEOUT_MS',
  'RUN_DETACH_GRACE_MS',
  'RUN_RETENTION_MS',
  'ACCOUNT_THREAD_RESERVE',
  'METER_FLUSH_MS',
  'WEBHOOK_RETRY_BASE_SECONDS',
] as const;

/** The bindings the configuration is read from (the Worker's `Env` fits this). */
export type RawBindings = Partial<
  Record<
    | 'EPSIMO_BASE_URL'
    | 'EPSIMO_EMAIL'
    | 'EPSIMO_PASSWORD'
    | 'TENANTS'
    | 'LOCAL_DEV'
    | 'ADMIN_KEY_HASHES'
    | 'REGISTRY'
    | (typeof NUMERIC_VARS)[number],
    unknown
  >
>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Parses bindings into a {@link Config}; never throws, never echoes secret values. */
export function parseConfig(env: RawBindings): ConfigResult {
  const bindings = BindingsSchema.safeParse({
    EPSIMO_BASE_URL: env.EPSIMO_BASE_URL || undefined,
    EPSIMO_EMAIL: env.EPSIMO_EMAIL,
    EPSIMO_PASSWORD: env.EPSIMO_PASSWORD,
    TENANTS: env.TENANTS || undefined,
    ADMIN_KEY_HASHES: env.ADMIN_KEY_HASHES || undefined,
    LOCAL_DEV: env.LOCAL_DEV || undefined,
    ...Object.fromEntries(NUMERIC_VARS.map((name) => [name, env[name] || undefined])),
  });
  if (!bindings.success) return { ok: false, problems: describe(bindings.error) };

  // With a registry, TENANTS only seeds it and may be absent or `{}`; without one it is the registry.
  const registry = env.REGISTRY !== undefined;
  const text = bindings.data.TENANTS ?? (registry ? '{}' : undefined);
  if (text === undefined) return { ok: false, problems: ['TENANTS: required when no REGISTRY is bound'] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problems: ['TENANTS: not valid JSON'] };
  }
  const tenants = TenantsSchema.safeParse(raw);
  if (!tenants.success) return { ok: false, problems: describe(tenants.error, 'TENANTS') };
  if (!registry && Object.keys(tenants.data).length === 0) {
    return { ok: false, problems: ['TENANTS: at least one tenant is required'] };
  }
  const entries = z.record(z.string(), z.unknown()).parse(raw);

  const map = new Map<string, Tenant>();
  // Without a registry a tenant is never deleted and created again: its first scope is its only one.
  for (const [id, tenant] of Object.entries(tenants.data)) map.set(id, { ...tenant, id, scope: id });
  const localDev = bindings.data.LOCAL_DEV === 'true';
  const problems: string[] = [];
  if (!secureEnough(bindings.data.EPSIMO_BASE_URL, localDev))
    problems.push(`EPSIMO_BASE_URL: ${HTTP_PROBLEM}`);
  for (const tenant of map.values()) {
    const problem = tenantProblem(tenant, localDev);
    if (problem) problems.push(`TENANTS.${tenant.id}.${problem}`);
  }
  const issuers = issuerIndex(map, problems);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: {
      upstream: {
        baseUrl: bindings.data.EPSIMO_BASE_URL,
        email: bindings.data.EPSIMO_EMAIL,
        password: bindings.data.EPSIMO_PASSWORD,
        timeoutMs: bindings.data.UPSTREAM_TIMEOUT_MS,
      },
      stream: {
        firstByteTimeoutMs: bindings.data.STREAM_FIRST_BYTE_TIMEOUT_MS,
        idleTimeoutMs: bindings.data.STREAM_IDLE_TIMEOUT_MS,
        maxDurationMs: bindings.data.STREAM_MAX_DURATION_MS,
        pingMs: bindings.data.STREAM_PING_MS,
      },
      runs: { detachGraceMs: bindings.data.RUN_DETACH_GRACE_MS, retentionMs: bindings.data.RUN_RETENTION_MS },
      bodyTimeoutMs: bindings.data.BODY_TIMEOUT_MS,
      accountThreadReserve: bindings.data.ACCOUNT_THREAD_RESERVE,
      tenants: map,
      issuers,
      registry,
      seed: bindings.data.TENANTS === undefined ? undefined : { text, entries },
      adminKeyDigests: bindings.data.ADMIN_KEY_HASHES,
      localDev,
    },
  };
}

/**
 * What the schema cannot see in one parsed tenant: an IdP key URL that may not be
 * fetched (plain `http:` outside local development). `undefined` when there is none.
 */
export function tenantProblem(tenant: Tenant, localDev: boolean): string | undefined {
  const uri = tenant.auth?.jwks?.uri;
  return uri && !secureEnough(uri, localDev) ? `auth.jwks.uri: ${HTTP_PROBLEM}` : undefined;
}

/** Issue paths and messages only: zod's `input` would echo secret values. */
function describe(error: z.ZodError, prefix?: string): string[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

let cached: { raw: unknown[]; result: ConfigResult } | undefined;

/**
 * The configuration for `env`, parsed once per isolate: bindings only change with a
 * new deployment, so the raw binding values are a complete cache key (compared one by
 * one: the same strings every request, so this is cheap).
 */
export function loadConfig(env: RawBindings): ConfigResult {
  const raw = [
    env.EPSIMO_BASE_URL,
    env.EPSIMO_EMAIL,
    env.EPSIMO_PASSWORD,
    env.TENANTS,
    env.LOCAL_DEV,
    env.ADMIN_KEY_HASHES,
    env.REGISTRY !== undefined,
    ...NUMERIC_VARS.map((n) => env[n]),
  ];
  if (!cached || cached.raw.length !== raw.length || cached.raw.some((value, i) => value !== raw[i])) {
    cached = { raw, result: parseConfig(env) };
  }
  return cached.result;
}
