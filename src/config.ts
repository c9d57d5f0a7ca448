import { z } from '@hono/zod-openapi';
import { AuthSchema, HsSecretSchema, HTTP_PROBLEM, issuerIndex, secureEnough, unique } from './auth/schema';

/** Ids in paths and configuration: `^[A-Za-z0-9_-]{1,128}$`. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const ID_MESSAGE = 'must match ^[A-Za-z0-9_-]{1,128}$';
export const IdSchema = z.string().regex(ID_PATTERN, ID_MESSAGE);

/** Tenant ids: `^[a-z0-9][a-z0-9_-]{0,62}$`. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const TenantIdSchema = z.string().regex(TENANT_ID_PATTERN, 'invalid tenant id');

/** An origin such as `https://app.acme.example` (scheme, host, optional port; nothing else). */
const OriginSchema = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}, 'must be an origin like https://app.example.com');

/** Defaults for every `limits` field; documented in the README. */
export const DEFAULT_LIMITS = {
  requests_per_minute: 60,
  burst: 20,
  tenant_requests_per_minute: 1200,
  concurrent_streams: 4,
  streams_per_user: 2,
  threads_per_user: 20,
  threads_total: 1000,
  threads_per_user_per_day: 20,
  threads_per_day: 500,
  threads_per_month: 5000,
  runs_per_user_per_day: 300,
  files_per_user: 100,
} as const;

const positive = z.number().int().positive();

const LimitsSchema = z
  .object({
    requests_per_minute: positive.default(DEFAULT_LIMITS.requests_per_minute),
    burst: positive.default(DEFAULT_LIMITS.burst),
    tenant_requests_per_minute: positive.default(DEFAULT_LIMITS.tenant_requests_per_minute),
    concurrent_streams: positive.default(DEFAULT_LIMITS.concurrent_streams),
    streams_per_user: positive.default(DEFAULT_LIMITS.streams_per_user),
    threads_per_user: positive.default(DEFAULT_LIMITS.threads_per_user),
    threads_total: positive.default(DEFAULT_LIMITS.threads_total),
    threads_per_user_per_day: positive.default(DEFAULT_LIMITS.threads_per_user_per_day),
    threads_per_day: positive.default(DEFAULT_LIMITS.threads_per_day),
    threads_per_month: positive.default(DEFAULT_LIMITS.threads_per_month),
    runs_per_user_per_day: positive.default(DEFAULT_LIMITS.runs_per_user_per_day),
    files_per_user: positive.default(DEFAULT_LIMITS.files_per_user),
  })
  .strict();

export const DEFAULT_FILES = {
  max_bytes: 10 * 1024 * 1024,
  types: ['application/pdf', 'text/plain', 'image/png', 'image/jpeg'],
} as const;

const FilesSchema = z
  .object({
    max_bytes: positive.max(100 * 1024 * 1024).default(DEFAULT_FILES.max_bytes),
    types: z
      .array(z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type'))
      .min(1)
      .default([...DEFAULT_FILES.types]),
  })
  .strict();

function decodesAsBase64(value: string): boolean {
  try {
    return value.length % 4 === 0 && atob(value).length >= 16;
  } catch {
    return false;
  }
}

const WebhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]{16,}={0,2}$/, 'must be whsec_ followed by base64')
  .refine((secret) => decodesAsBase64(secret.slice('whsec_'.length)), 'must be whsec_ followed by base64');

/** One tenant entry: of `TENANTS`, and of the registry's admin API (the same schema). */
export const TenantSchema = z
  .object({
    project_id: IdSchema,
    session_secret: HsSecretSchema.optional(),
    auth: AuthSchema.optional(),
    assistants: z.array(IdSchema).min(1),
    origins: z.array(OriginSchema).default([]),
    limits: LimitsSchema.default(LimitsSchema.parse({})),
    files: FilesSchema.default(FilesSchema.parse({})),
    tool_calls: z.enum(['none', 'name', 'full']).default('name'),
    webhook_secret: WebhookSecretSchema.optional(),
    // A list so the secret rotates: signatures by any of them are accepted, callbacks carry all.
    webhook_secrets: z.array(WebhookSecretSchema).min(1).max(4).refine(unique, 'must not repeat').optional(),
    callback_origins: z.array(OriginSchema).default([]),
  })
  .strict()
  .refine(
    (t) => t.session_secret !== undefined || t.auth?.hs256 !== undefined || t.auth?.jwks !== undefined,
    {
      message: 'a tenant needs session_secret, auth.hs256 or auth.jwks',
      path: ['auth'],
    },
  );

export type Tenant = z.infer<typeof TenantSchema> & { id: string };
export type ToolCallPolicy = Tenant['tool_calls'];

/** One HS256 secret: `kid` undefined for `session_secret`, which verifies tokens without a `kid`. */
export interface HsKey {
  kid: string | undefined;
  secret: string;
}

/** The tenant's HS256 secrets: `session_secret` (tokens without `kid`) and `auth.hs256` (by `kid`). */
export function hs256Keys(tenant: Tenant): HsKey[] {
  const keys: HsKey[] = tenant.session_secret ? [{ kid: undefined, secret: tenant.session_secret }] : [];
  for (const key of tenant.auth?.hs256 ?? []) keys.push(key);
  return keys;
}

/** Every active webhook secret of the tenant (`webhook_secret` and `webhook_secrets`), no repeats. */
export function webhookSecrets(tenant: Tenant): string[] {
  const all = tenant.webhook_secret ? [tenant.webhook_secret] : [];
  for (const secret of tenant.webhook_secrets ?? []) if (!all.includes(secret)) all.push(secret);
  return all;
}

/** Tenant ids, as in `TENANTS` keys and admin API paths. */
export const TenantKeySchema = TenantIdSchema;

const TenantsSchema = z.record(TenantIdSchema, TenantSchema);

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

/** The most one SSE event may weigh (bytes). */
export const MAX_EVENT_BYTES = 1024 * 1024;

const BindingsSchema = z.object({
  EPSIMO_BASE_URL: z
    .url({ protocol: /^https?$/ })
    .default('https://api.epsimoagents.com')
    .transform((url) => url.replace(/\/+$/, '')),
  EPSIMO_EMAIL: z.string().min(3),
  EPSIMO_PASSWORD: z.string().min(1),
  TENANTS: z.string().min(2).optional(),
  ADMIN_KEY_HASHES: AdminKeyHashesSchema,
  UPSTREAM_TIMEOUT_MS: millis(10_000),
  STREAM_FIRST_BYTE_TIMEOUT_MS: millis(30_000),
  STREAM_IDLE_TIMEOUT_MS: millis(60_000),
  STREAM_MAX_DURATION_MS: millis(300_000),
  STREAM_PING_MS: millis(15_000),
  BODY_TIMEOUT_MS: millis(10_000),
  RUN_DETACH_GRACE_MS: millis(30_000),
  RUN_RETENTION_MS: millis(900_000),
  ACCOUNT_THREAD_RESERVE: z.coerce.number().int().min(0).max(1_000_000).default(10),
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
  for (const [id, tenant] of Object.entries(tenants.data)) map.set(id, { ...tenant, id });
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
