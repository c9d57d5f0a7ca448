import type { Context } from 'hono';
import { accountView } from '../../admin/account';
import { exportUsage } from '../../admin/export';
import { getTenant, listTenants, patchTenant, putTenant, removeTenant } from '../../admin/tenants';
import { deleteThreadsOf } from '../../admin/user-threads';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { readAudit, readTenant, recordChange, type TenantRow } from '../../registry/store';
import { blockChanged } from '../../services/local-reads';
import { cancelRunsOf } from '../../services/run-shards';
import { scopeOf } from '../../tenant';
import type { AppRouteHandler } from '../define';
import type * as routes from './admin.routes';

/** The operator on this request (set by the admin auth); never empty past it. */
const operatorOf = (c: Context<AppEnv>) => c.get('operator') ?? 'unknown';

/** The registry to edit; a Worker run with `TENANTS` alone (no `REGISTRY`) has none. */
function registry(c: Context<AppEnv>): D1Database {
  if (!c.get('config').registry) {
    throw new ApiError('REGISTRY_UNAVAILABLE', 'No tenant registry is bound (REGISTRY): TENANTS is fixed.');
  }
  return c.env.REGISTRY;
}

export const listTenantsHandler: AppRouteHandler<typeof routes.listTenants> = async (c) =>
  c.json({ tenants: await listTenants(registry(c)) }, 200);

export const getTenantHandler: AppRouteHandler<typeof routes.getTenant> = async (c) =>
  c.json(await getTenant(registry(c), c.req.valid('param').tenant), 200);

export const putTenantHandler: AppRouteHandler<typeof routes.putTenant> = async (c) => {
  const { tenant } = c.req.valid('param');
  registry(c);
  const { view, created } = await putTenant(
    c.env,
    c.get('config'),
    operatorOf(c),
    tenant,
    c.req.valid('json'),
  );
  return created ? c.json(view, 201) : c.json(view, 200);
};

export const patchTenantHandler: AppRouteHandler<typeof routes.patchTenant> = async (c) => {
  registry(c);
  const { tenant } = c.req.valid('param');
  return c.json(await patchTenant(c.env, c.get('config'), operatorOf(c), tenant, c.req.valid('json')), 200);
};

export const deleteTenantHandler: AppRouteHandler<typeof routes.deleteTenant> = async (c) => {
  registry(c);
  await removeTenant(c.env, operatorOf(c), c.req.valid('param').tenant);
  return c.body(null, 204);
};

/**
 * The row of a tenant the registry has (deleted ones have no users to block), or `404`:
 * read now, so what follows lands in the incarnation in force, never a former one.
 */
async function existingRow(c: Context<AppEnv>, id: string): Promise<TenantRow> {
  const row = await readTenant(registry(c), id);
  if (!row || row.deleted_at !== null) throw new ApiError('NOT_FOUND', 'No such tenant.');
  return row;
}

/** The scope of a tenant the registry has (see {@link existingRow}). */
const existingScope = async (c: Context<AppEnv>, id: string) => {
  const row = await existingRow(c, id);
  return scopeOf(id, row.epoch);
};

/**
 * Blocks or lets back in one end user. The tenant's state object holds the block and
 * every exact admission checks it, so it holds there from this answer on; reads admitted
 * from an isolate's lease learn it within the lease's life (2 s), at once in this isolate
 * (services/local-reads.ts `blockChanged`). The audit row follows it.
 */
async function setBlocked(c: Context<AppEnv>, tenant: string, user: string, blocked: boolean) {
  const scope = await existingScope(c, tenant);
  const state = c.env.TENANT_STATE.getByName(scope);
  const changed = blocked ? await state.block(user) : await state.unblock(user);
  blockChanged(scope, user, blocked);
  // What they started stops too: their running runs end RUN_CANCELLED, slots back.
  if (blocked) await cancelRunsOf(c.env.THREAD_RUNS, scope, user);
  if (changed) {
    await recordChange(registry(c), {
      actor: operatorOf(c),
      action: blocked ? 'user.block' : 'user.unblock',
      tenant,
      subject: user,
    });
  }
  return { tenant, user, blocked };
}

export const blockUserHandler: AppRouteHandler<typeof routes.blockUser> = async (c) => {
  const { tenant, sub } = c.req.valid('param');
  return c.json(await setBlocked(c, tenant, sub, true), 200);
};

export const unblockUserHandler: AppRouteHandler<typeof routes.unblockUser> = async (c) => {
  const { tenant, sub } = c.req.valid('param');
  return c.json(await setBlocked(c, tenant, sub, false), 200);
};

/**
 * Deletes up to `PURGE_LIMIT` of an end user's threads (admin/user-threads.ts), blocked
 * or not; the audit row names how many, also when the call stopped early (`retry_after`,
 * sent as `Retry-After` too).
 */
export const deleteUserThreadsHandler: AppRouteHandler<typeof routes.deleteUserThreads> = async (c) => {
  const { tenant, sub } = c.req.valid('param');
  const row = await existingRow(c, tenant);
  const result = await deleteThreadsOf(c.env, c.get('config'), row, sub, {
    requestId: c.get('requestId'),
    signal: c.req.raw.signal,
    defer: (promise) => c.executionCtx.waitUntil(promise),
  });
  if (result.deleted > 0) {
    await recordChange(registry(c), {
      actor: operatorOf(c),
      action: 'user.threads.delete',
      tenant,
      subject: sub,
      detail: { deleted: result.deleted },
    });
  }
  if (result.retry_after !== undefined) c.header('Retry-After', String(result.retry_after));
  return c.json(result, 200);
};

export const listBlocksHandler: AppRouteHandler<typeof routes.listBlocks> = async (c) => {
  const { tenant } = c.req.valid('param');
  const scope = await existingScope(c, tenant);
  return c.json({ tenant, users: await c.env.TENANT_STATE.getByName(scope).blocked() }, 200);
};

export const usageHandler: AppRouteHandler<typeof routes.usage> = async (c) =>
  exportUsage(c, c.req.valid('query'));

export const accountHandler: AppRouteHandler<typeof routes.account> = async (c) =>
  c.json(await accountView(c.env, c.get('config'), c.get('requestId')), 200);

export const auditHandler: AppRouteHandler<typeof routes.audit> = async (c) => {
  const { tenant, limit } = c.req.valid('query');
  const rows = await readAudit(registry(c), limit, tenant);
  const entries = rows.map((row) => ({
    ...row,
    detail: row.detail === null ? null : parseDetail(row.detail),
  }));
  return c.json({ entries }, 200);
};

function parseDetail(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
