import { z } from '@hono/zod-openapi';
import { AuthSchema, HsSecretSchema, unique } from './auth/schema';

// One tenant's configuration (an entry of `TENANTS`, or of the registry's admin API) and
// the ids it is keyed by. The gateway's own bindings and their parsing are in config.ts.
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

/**
 * A tenant in force: its entry, its `id` (the public one: tokens, paths, logs, usage) and
 * its `scope`, the name its Durable Objects and this isolate's caches go by
 * ({@link scopeOf}). A tenant deleted and created again under the same id gets a new
 * scope, so it starts empty and nothing of the former one is reachable through it.
 */
export type Tenant = z.infer<typeof TenantSchema> & { id: string; scope: string };
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

/**
 * The scope of incarnation `epoch` of tenant `id` (registry column `tenants.epoch`, bumped
 * when a deleted id is created again): the bare id for the first, which every `TENANTS`
 * tenant and every tenant from before epochs existed is, so their objects keep their
 * names; `<id>.<epoch>` after. A tenant id has no `.`, so no scope is another tenant's.
 */
export function scopeOf(id: string, epoch: number): string {
  return epoch === 0 ? id : `${id}.${epoch}`;
}

/** The tenant whose current scope is `scope`, or `undefined` (deleted, or created again since). */
export function tenantOfScope(tenants: ReadonlyMap<string, Tenant>, scope: string): Tenant | undefined {
  const tenant = tenants.get(scope.split('.')[0] ?? scope);
  return tenant?.scope === scope ? tenant : undefined;
}
