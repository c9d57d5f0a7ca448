import type { Config } from '../config';
import { errorName, log } from '../log';
import type { Deliveries } from '../objects/deliveries';
import { tenantOfScope, webhookSecrets } from '../tenant';
import { type CallbackJob, callbackUrlProblem } from '../webhooks/schemas';
import { SIGNED_PREFIX, signedHeaders } from '../webhooks/signature';
import { toCallbackTicket } from '../webhooks/store';

/** How long one callback attempt may take (ms). */
export const CALLBACK_TIMEOUT_MS = 10_000;

/** The outcome of one POST to a callback URL. */
export type CallbackResult =
  | { ok: true; status: number }
  | { ok: false; status: number | 'timeout' | 'network' };

/** Puts a delivery's callback on the queue; a failure leaves it pending for the object's alarm. */
export async function queueCallback(
  env: Env,
  store: DurableObjectStub<Deliveries>,
  tenant: string,
  deliveryId: string,
): Promise<void> {
  try {
    const job: CallbackJob = { kind: 'callback', tenant, delivery_id: deliveryId };
    await env.CALLBACKS.send(job);
    await store.callbackQueued(deliveryId);
  } catch (error) {
    log('error', 'webhook callback not enqueued (the sweep retries it)', {
      tenant,
      delivery_id: deliveryId,
      error: errorName(error),
    });
  }
}

/**
 * One attempt at a delivery's callback: the result POSTed to `callback_url`, signed with
 * Standard Webhooks headers over `epsimo-edge.callback.` + the body, by every active secret (the same `webhook-id` on every attempt, so the receiver can
 * deduplicate; a fresh timestamp and signature each time), `redirect: 'manual'` (a
 * redirect is a failure, never followed) and a timeout. Resolves to `'done'` when nothing
 * more is owed (2xx, or nothing to send) and `'retry'` otherwise. Each attempt is logged
 * with its delivery id, attempt and status: never the URL's path, the body or a secret.
 */
export async function attemptCallback(
  job: CallbackJob,
  config: Config,
  store: DurableObjectStub<Deliveries>,
): Promise<'done' | 'retry'> {
  const row = await store.callbackAttempt(job.delivery_id);
  const ticket = row ? toCallbackTicket(row) : null;
  if (!ticket) return 'done';
  const fields = { tenant: job.tenant, delivery_id: job.delivery_id, attempt: ticket.attempt };
  // A tenant created again since (another scope) signs nothing of its former self's.
  const tenant = tenantOfScope(config.tenants, job.tenant);
  const secrets = tenant ? webhookSecrets(tenant) : [];
  const problem =
    !tenant || secrets.length === 0
      ? 'the tenant has no webhook secret'
      : callbackUrlProblem(ticket.url, tenant);
  if (!tenant || problem) {
    log('error', 'webhook callback abandoned: no longer allowed by the configuration', {
      ...fields,
      problem,
    });
    await store.callbackDone(job.delivery_id, 'dead_lettered');
    return 'done';
  }
  const body = JSON.stringify(ticket.payload);
  // Signed with every active secret, over the callback prefix and the body (see SIGNED_PREFIX).
  const headers = await signedHeaders(secrets, ticket.callback_id, `${SIGNED_PREFIX.callback}${body}`);
  const result = await postCallback(ticket.url, body, headers);
  log(result.ok ? 'info' : 'warn', 'webhook callback attempt', {
    ...fields,
    origin: new URL(ticket.url).origin,
    status: result.status,
    ok: result.ok,
  });
  if (!result.ok) return 'retry';
  await store.callbackDone(job.delivery_id, 'delivered');
  return 'done';
}

/** POSTs `body` once; any 2xx is accepted, everything else (3xx included) is a failure. */
export async function postCallback(
  url: string,
  body: string,
  signature: Record<string, string>,
): Promise<CallbackResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { ...signature, 'content-type': 'application/json', 'user-agent': 'epsimo-edge-webhooks/1' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
    });
  } catch (error) {
    const timeout = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return { ok: false, status: timeout ? 'timeout' : 'network' };
  }
  await res.body?.cancel().catch(() => undefined);
  return res.status >= 200 && res.status < 300
    ? { ok: true, status: res.status }
    : { ok: false, status: res.status };
}
