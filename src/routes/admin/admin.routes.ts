import { z } from '@hono/zod-openapi';
import { ENTRY_TYPES, MERGE_PATCH_TYPES, tenantBody } from '../../admin/body';
import { ThreadsDeletedSchema } from '../../admin/user-threads';
import { COUNTERS, REFUSALS } from '../../metering/metrics';
import { TenantKeySchema } from '../../tenant';
import { jsonContent } from '../schemas';
import { adminErrors, adminRoute, TenantParams, UserParams } from './common';

/** A tenant entry as written: validated after masked secrets are resolved, by the `TENANTS` schema. */
const TenantEntryBody = z.looseObject({}).openapi('TenantEntry', {
  description:
    'One `TENANTS` entry (README, Configuration). A secret given as `****` + its last 4 characters ' +
    '(as GET shows it) keeps the stored secret it stands for.',
});

const TenantViewSchema = z
  .object({
    id: z.string(),
    source: z.enum(['TENANTS', 'api']),
    created_at: z.string(),
    updated_at: z.string(),
    config: z.looseObject({}),
  })
  .openapi('TenantView', {
    description: 'A tenant with every default filled in; each secret as `****` + its last 4 characters.',
  });

export const listTenants = adminRoute({
  method: 'get',
  path: '/tenants',
  operationId: 'adminListTenants',
  summary: 'The tenants of the registry (secrets masked)',
  responses: {
    200: jsonContent(z.object({ tenants: z.array(TenantViewSchema) }), 'Tenants'),
    ...adminErrors(),
  },
});

export const getTenant = adminRoute({
  method: 'get',
  path: '/tenants/{tenant}',
  operationId: 'adminGetTenant',
  summary: 'One tenant (secrets masked)',
  request: { params: TenantParams },
  responses: { 200: jsonContent(TenantViewSchema, 'The tenant'), ...adminErrors(400, 404) },
});

export const putTenant = adminRoute({
  method: 'put',
  path: '/tenants/{tenant}',
  operationId: 'adminPutTenant',
  summary: 'Create or replace a tenant; served by every isolate within 30 s',
  middleware: tenantBody(ENTRY_TYPES),
  request: {
    params: TenantParams,
    body: { content: { 'application/json': { schema: TenantEntryBody } }, required: true },
  },
  responses: {
    200: jsonContent(TenantViewSchema, 'Replaced'),
    201: jsonContent(TenantViewSchema, 'Created'),
    ...adminErrors(400, 413, 415),
  },
});

export const patchTenant = adminRoute({
  method: 'patch',
  path: '/tenants/{tenant}',
  operationId: 'adminPatchTenant',
  summary: 'Change some fields of a tenant (JSON merge patch, RFC 7396)',
  middleware: tenantBody(MERGE_PATCH_TYPES),
  request: {
    params: TenantParams,
    body: {
      content: {
        'application/merge-patch+json': { schema: TenantEntryBody },
        'application/json': { schema: TenantEntryBody },
      },
      required: true,
    },
  },
  responses: {
    200: jsonContent(TenantViewSchema, 'The tenant after the patch'),
    ...adminErrors(400, 404, 413, 415),
  },
});

export const deleteTenant = adminRoute({
  method: 'delete',
  path: '/tenants/{tenant}',
  operationId: 'adminDeleteTenant',
  summary: 'Delete a tenant: its tokens, hooks and runs refused within 30 s',
  request: { params: TenantParams },
  responses: { 204: { description: 'Deleted' }, ...adminErrors(400, 404) },
});

const BlockSchema = z.object({ tenant: z.string(), user: z.string(), blocked: z.boolean() }).openapi('Block');

export const blockUser = adminRoute({
  method: 'post',
  path: '/tenants/{tenant}/users/{sub}/block',
  operationId: 'adminBlockUser',
  summary: 'Block one end user (`403 USER_BLOCKED` on every request, at once)',
  request: { params: UserParams },
  responses: { 200: jsonContent(BlockSchema, 'Blocked'), ...adminErrors(400, 404) },
});

export const unblockUser = adminRoute({
  method: 'delete',
  path: '/tenants/{tenant}/users/{sub}/block',
  operationId: 'adminUnblockUser',
  summary: 'Let a blocked end user back in',
  request: { params: UserParams },
  responses: { 200: jsonContent(BlockSchema, 'Unblocked'), ...adminErrors(400, 404) },
});

export const deleteUserThreads = adminRoute({
  method: 'delete',
  path: '/tenants/{tenant}/users/{sub}/threads',
  operationId: 'adminDeleteUserThreads',
  summary:
    'Delete up to 5 of an end user’s threads (blocked or not), freeing their quota; repeat while `remaining` > 0',
  request: { params: UserParams },
  responses: {
    200: jsonContent(
      ThreadsDeletedSchema.openapi('ThreadsDeleted'),
      'What was deleted; `retry_after` (and `Retry-After`) when it stopped early: the upstream’s budget is spent or it is down',
    ),
    ...adminErrors(400, 404),
  },
});

export const listBlocks = adminRoute({
  method: 'get',
  path: '/tenants/{tenant}/blocks',
  operationId: 'adminListBlocks',
  summary: 'The blocked end users of a tenant',
  request: { params: TenantParams },
  responses: {
    200: jsonContent(
      z.object({
        tenant: z.string(),
        users: z.array(z.object({ user: z.string(), blocked_at: z.string() })),
      }),
      'Blocked users',
    ),
    ...adminErrors(400, 404),
  },
});

/**
 * Whether `day` is a calendar day as YYYY-MM-DD. Never throws: zod runs this refinement
 * even after the regex failed, and `toISOString()` of an invalid date (`2026-13-01`,
 * `2026-1-01`) is a RangeError, which became a generic 400 without `field`.
 */
function isDay(day: string): boolean {
  const ms = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().startsWith(day);
}

const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD')
  .refine(isDay, 'must be a date, YYYY-MM-DD');

export const UsageQuerySchema = z
  .object({
    tenant: TenantKeySchema.optional(),
    from: Day.optional().openapi({ description: 'First UTC day (default: 29 days before `to`)' }),
    to: Day.optional().openapi({ description: 'Last UTC day, inclusive (default: today)' }),
    group: z.enum(['tenant', 'user']).default('tenant'),
    format: z.enum(['json', 'csv', 'ndjson']).default('json'),
  })
  .strict();

const UsageRecordSchema = z
  .object({
    tenant: z.string(),
    day: z.string(),
    user: z.string().optional(),
    ...Object.fromEntries(COUNTERS.filter((c) => c !== 'run_ms').map((c) => [c, z.number()])),
    run_seconds: z.number(),
    refused: z.object(Object.fromEntries(REFUSALS.map((r) => [r, z.number().optional()]))),
  })
  .openapi('UsageRecord');

export const usage = adminRoute({
  method: 'get',
  path: '/usage',
  operationId: 'adminExportUsage',
  summary: 'Metered usage per tenant (or user) per UTC day, as JSON, CSV or NDJSON',
  request: { query: UsageQuerySchema },
  responses: {
    200: {
      description: 'The usage; written counts only (they lag the traffic by about a second)',
      content: {
        'application/json': {
          schema: z.object({
            from: z.string(),
            to: z.string(),
            group: z.enum(['tenant', 'user']),
            rows: z.array(UsageRecordSchema),
          }),
        },
        'text/csv': { schema: z.string() },
        'application/x-ndjson': { schema: z.string() },
      },
    },
    ...adminErrors(400),
  },
});

const AccountSchema = z
  .object({
    thread_counter: z.number(),
    thread_max: z.number(),
    threads_remaining: z.number(),
    tier: z.string().nullable(),
    reserve: z.number(),
    governor: z.object({
      limit: z.number(),
      synced: z.boolean(),
      window: z.object({ reset_at: z.number(), budget: z.number(), used: z.number() }),
      /** Epoch ms until which a 429 stops every grant; null when none. */
      blocked_until: z.number().nullable(),
    }),
  })
  .openapi('Account');

export const account = adminRoute({
  method: 'get',
  path: '/account',
  operationId: 'adminGetAccount',
  summary: 'The upstream account (threads used and left, tier) and the governor’s learned budget',
  responses: { 200: jsonContent(AccountSchema, 'The account'), ...adminErrors(502, 504) },
});

const AuditSchema = z
  .object({
    id: z.number(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    tenant: z.string().nullable(),
    subject: z.string().nullable(),
    detail: z.unknown(),
  })
  .openapi('AuditEntry');

export const audit = adminRoute({
  method: 'get',
  path: '/audit',
  operationId: 'adminListAudit',
  summary: 'The audit trail, newest first: who (key digest prefix), what, when',
  request: {
    query: z
      .object({
        tenant: TenantKeySchema.optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      })
      .strict(),
  },
  responses: {
    200: jsonContent(z.object({ entries: z.array(AuditSchema) }), 'Audit entries'),
    ...adminErrors(400),
  },
});
