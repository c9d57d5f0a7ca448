import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { knownScopes } from '../registry';
import type { UsageQuerySchema } from '../routes/admin/admin.routes';
import { inBatches, toCsv, toNdjson, toRecords } from './usage';

const DAY_MS = 86_400_000;
/** The longest range one export covers (days). */
const MAX_DAYS = 366;
/** Tenants' state objects asked at once. */
const FAN_OUT = 8;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The usage export: every tenant the registry knows (deleted ones too: their usage was
 * real) or the one asked for, each tenant's state objects (one per incarnation of its id,
 * summed) asked for their written counts in the day range, as one document in the format
 * asked for.
 */
export async function exportUsage(c: Context<AppEnv>, query: z.output<typeof UsageQuerySchema>) {
  const to = query.to ?? dayOf(Date.now());
  const from = query.from ?? dayOf(Date.parse(`${to}T00:00:00Z`) - 29 * DAY_MS);
  const span = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS;
  if (span < 0) throw new ApiError('VALIDATION_ERROR', 'from: must not be after to.', { field: 'from' });
  if (span >= MAX_DAYS) {
    throw new ApiError('VALIDATION_ERROR', `from: at most ${MAX_DAYS} days in one export.`, {
      field: 'from',
    });
  }
  const byUser = query.group === 'user';
  const known = await knownScopes(c.env, c.get('config'));
  const tenants = query.tenant ? [query.tenant] : [...known.keys()].sort();
  const perTenant = await inBatches(tenants, FAN_OUT, async (tenant) => {
    const scopes = known.get(tenant) ?? [tenant];
    const rows = await Promise.all(
      scopes.map((scope) => c.env.TENANT_STATE.getByName(scope).meteredUsage({ from, to, byUser })),
    );
    return toRecords(tenant, rows.flat(), byUser);
  });
  const rows = perTenant.flat();
  const name = `usage-${from}-${to}`;
  if (query.format === 'csv') {
    return c.body(toCsv(rows, byUser), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${name}.csv"`,
    });
  }
  if (query.format === 'ndjson') {
    return c.body(toNdjson(rows), 200, { 'Content-Type': 'application/x-ndjson; charset=utf-8' });
  }
  return c.json({ from, to, group: query.group, rows }, 200);
}
