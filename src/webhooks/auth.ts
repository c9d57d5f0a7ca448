import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { log } from '../log';
import { TENANT_ID_PATTERN, type Tenant, webhookSecrets } from '../tenant';
import type { VerifyFailure } from './signature';

/** A hook's tenant and the secrets its webhooks may be signed with (several while one rotates). */
export interface HookTenant {
  tenant: Tenant;
  secrets: string[];
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
    request_id: c.get('requestId'),
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

/** Refuses (401) any `Authorization` header: a session token never authenticates a hook. */
export function refuseSessionToken(c: Context<AppEnv>): void {
  if (c.req.header('Authorization') !== undefined) throw refuse(c, 'session_token');
}

/**
 * Checked against when the path names no tenant with webhooks, so such a request costs
 * the same HMAC as a bad signature and its 401 arrives no sooner.
 */
const DECOY_SECRETS = ['whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'];

/**
 * The tenant named in the path with its webhook secrets, or why there is none (an
 * unknown tenant, or one without `webhook_secret(s)`) with decoy secrets to check the
 * signature against anyway. The caller refuses both the same way as a bad signature.
 */
export function hookTenant(
  c: Context<AppEnv>,
): HookTenant | { refusal: 'unknown_tenant' | 'no_webhook_secret'; secrets: string[] } {
  const id = c.req.param('tenant') ?? '';
  const tenant = TENANT_ID_PATTERN.test(id) ? c.get('config').tenants.get(id) : undefined;
  if (!tenant) return { refusal: 'unknown_tenant', secrets: DECOY_SECRETS };
  const secrets = webhookSecrets(tenant);
  if (secrets.length === 0) return { refusal: 'no_webhook_secret', secrets: DECOY_SECRETS };
  return { tenant, secrets };
}
