import type { Context } from 'hono';
import { TENANT_ID_PATTERN, type Tenant } from '../config';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { log } from '../log';
import type { VerifyFailure } from './signature';

/** A hook's tenant and the secret its webhooks are signed with. */
export interface HookTenant {
  tenant: Tenant;
  secret: string;
}

/** Why a hook request is refused before its signature is checked, or the signature's failure. */
export type HookRefusal = 'session_token' | 'unknown_tenant' | 'no_webhook_secret' | VerifyFailure | 'replay';

/**
 * The one 401 of webhook routes: the same body whatever failed (an unknown tenant reads
 * like a bad signature), the reason in the log only. Nothing was read, recorded or
 * enqueued when this is thrown.
 */
export function refuse(c: Context<AppEnv>, reason: HookRefusal): ApiError {
  const tenant = c.req.param('tenant');
  log('warn', 'webhook refused', {
    request_id: c.var.requestId,
    tenant: tenant && TENANT_ID_PATTERN.test(tenant) ? tenant : undefined,
    reason,
  });
  // One wording for every failure a stranger could probe (unknown tenant, stale
  // timestamp, bad signature), so a 401 never tells which tenants exist.
  const detail =
    reason === 'session_token'
      ? 'Session tokens are not accepted on webhook routes.'
      : 'Invalid webhook signature, timestamp or id.';
  return new ApiError('UNAUTHORIZED', detail);
}

/**
 * The tenant named in the path, with its webhook secret. Refuses (401) any
 * `Authorization` header (a session token never authenticates a hook), a tenant that
 * does not exist and one without a `webhook_secret`.
 */
export function hookTenant(c: Context<AppEnv>): HookTenant {
  if (c.req.header('Authorization') !== undefined) throw refuse(c, 'session_token');
  const id = c.req.param('tenant') ?? '';
  const tenant = TENANT_ID_PATTERN.test(id) ? c.var.config.tenants.get(id) : undefined;
  if (!tenant) throw refuse(c, 'unknown_tenant');
  if (!tenant.webhook_secret) throw refuse(c, 'no_webhook_secret');
  return { tenant, secret: tenant.webhook_secret };
}
