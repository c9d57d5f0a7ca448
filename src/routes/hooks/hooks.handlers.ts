import type { Context } from 'hono';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { sha256Hex } from '../../hash';
import { jsonTooDeep } from '../../json-depth';
import { errorName, log } from '../../log';
import { isJsonMediaType, wrongMediaType } from '../../media-type';
import { tooDeep } from '../../middleware/json-depth';
import { validationError } from '../../middleware/validate';
import type { AcceptResult, LookupResult } from '../../objects/deliveries';
import { admit } from '../../services/admission';
import { createContext } from '../../services/context';
import { IdSchema, type Tenant } from '../../tenant';
import { hookTenant, refuse, refuseSessionToken } from '../../webhooks/auth';
import { readRawBody } from '../../webhooks/body';
import {
  callbackUrlProblem,
  DEFAULT_SUBJECT,
  type DeliveryRequest,
  HookRunBodySchema,
  type RunJob,
} from '../../webhooks/schemas';
import {
  checkHeaders,
  matchesSignature,
  SIGNED_PREFIX,
  verifyWebhook,
  webhookHeaders,
} from '../../webhooks/signature';
import { toView } from '../../webhooks/store';

const unavailable = () =>
  new ApiError('QUEUE_UNAVAILABLE', 'The gateway cannot accept webhooks right now.', { retryAfter: 5 });

/** The deliveries object of the tenant's scope: a tenant created again does not see its former self's. */
const deliveries = (c: Context<AppEnv>, tenant: Tenant) => c.env.DELIVERIES.getByName(tenant.scope);

/** A webhook is admitted on the tenant's rate alone; it takes nothing else. */
const INGRESS = { limiter: 'closed', governor: 'none', rate: 'tenant' } as const;

const hookContext = (c: Context<AppEnv>, tenant: Tenant) =>
  createContext({
    env: c.env,
    config: c.get('config'),
    tenant,
    user: DEFAULT_SUBJECT,
    requestId: c.get('requestId'),
    signal: c.req.raw.signal,
    defer: (promise) => c.executionCtx.waitUntil(promise.catch(() => undefined)),
  });

/**
 * `POST /v1/hooks/{tenant}/run`. In order: no `Authorization`, a JSON `Content-Type`
 * (415, decided from the header before the body is read, or from a body sent without
 * one), the raw body read under its cap (413) and the body deadline (408, the route's
 * middleware): these come before the tenant is looked up, so they answer alike for every
 * tenant, known or not, and tell nothing. Then
 * one 401 alike for an unknown tenant, a tenant without webhooks, stale or malformed
 * headers and a signature that matches none of the tenant's secrets; the tenant's rate
 * (429); then JSON and the schema (400). The webhook-id is recorded before the run is
 * enqueued; a repeat answers the same `202` and enqueues nothing, a repeat with another
 * body is `409`.
 */
export async function runHook(c: Context<AppEnv>): Promise<Response> {
  refuseSessionToken(c);
  // Like a session route's body, a webhook's is JSON. The header is the request's own,
  // so refusing on it reveals nothing of the tenant, and it takes no token of its bucket.
  const type = c.req.header('content-type');
  if (type !== undefined && !isJsonMediaType(type)) throw wrongMediaType();
  const raw = await readRawBody(c.req.raw);
  if (type === undefined && raw.byteLength > 0) throw wrongMediaType();
  const found = hookTenant(c);
  const checked = checkHeaders(webhookHeaders(c.req.raw.headers));
  if (!checked.ok) throw refuse(c, checked.reason);
  const matched = await matchesSignature(found.secrets, checked.headers, raw);
  if ('refusal' in found) throw refuse(c, found.refusal);
  if (!matched) throw refuse(c, 'no_match');
  const { tenant } = found;
  c.set('tenant', tenant);
  // Counted once signed (a stranger cannot drain the bucket), against the tenant's rate;
  // its RateLimit pair goes on every answer from here on, as on a session route's.
  const { headers } = await admit(hookContext(c, tenant), INGRESS);
  for (const [name, value] of Object.entries(headers)) c.header(name, value);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw new ApiError('BAD_REQUEST', 'Malformed JSON body.');
  }
  // Before the parser and the schema, like every JSON body (src/json-depth.ts).
  if (jsonTooDeep(text)) throw tooDeep();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError('BAD_REQUEST', 'Malformed JSON body.');
  }
  const parsed = HookRunBodySchema.safeParse(json);
  if (!parsed.success) throw validationError(parsed.error.issues[0]);
  const body = parsed.data;
  if (body.assistant_id !== undefined && !tenant.assistants.includes(body.assistant_id)) {
    throw field('assistant_id', 'not an assistant of this tenant');
  }
  if (body.assistant_id !== undefined && body.thread_id !== undefined) {
    throw field('assistant_id', 'only for a new thread (the thread already has its assistant)');
  }
  const problem = body.callback_url === undefined ? null : callbackUrlProblem(body.callback_url, tenant);
  if (problem) throw field('callback_url', problem);

  const request: DeliveryRequest = {
    subject: body.subject ?? DEFAULT_SUBJECT,
    message: body.message,
    thread_id: body.thread_id ?? null,
    assistant_id: body.assistant_id ?? null,
    callback_url: body.callback_url ?? null,
  };
  const store = deliveries(c, tenant);
  let accepted: AcceptResult;
  try {
    accepted = await store.accept({
      // The scope: the sweep re-sends jobs with it, and a job acts only on that incarnation.
      tenant: tenant.scope,
      webhook_id: checked.headers.id,
      body_hash: await sha256Hex(raw),
      request,
    });
  } catch (error) {
    log('error', 'webhook not recorded', {
      request_id: c.get('requestId'),
      tenant: tenant.id,
      error: errorName(error),
    });
    throw unavailable();
  }
  const { delivery_id } = accepted;
  if (accepted.conflict) {
    throw new ApiError('IDEMPOTENCY_CONFLICT', 'This webhook-id was delivered before with another body.');
  }
  if (accepted.enqueue) {
    const job: RunJob = { kind: 'run', tenant: tenant.scope, delivery_id };
    try {
      await c.env.RUNS.send(job);
    } catch (error) {
      log('error', 'webhook run not enqueued', {
        request_id: c.get('requestId'),
        tenant: tenant.id,
        delivery_id,
        error: errorName(error),
      });
      await store.enqueueFailed(delivery_id).catch(() => undefined);
      throw unavailable();
    }
    // Not awaited for the answer: an unconfirmed enqueue is re-sent by the object's alarm.
    c.executionCtx.waitUntil(store.enqueued(delivery_id).catch(() => undefined));
  }
  log('info', 'webhook accepted', {
    request_id: c.get('requestId'),
    tenant: tenant.id,
    delivery_id,
    duplicate: accepted.duplicate,
  });
  return c.json({ delivery_id }, 202, { Location: `/v1/hooks/${tenant.id}/deliveries/${delivery_id}` });
}

/**
 * `GET /v1/hooks/{tenant}/deliveries/{delivery_id}`, signed like a webhook whose payload
 * is `epsimo-edge.lookup.` + the request path (e.g. `/v1/hooks/acme/deliveries/dlv_…`),
 * so a signature is good for that one delivery's lookup only, never as a webhook or a
 * callback; each lookup's webhook-id is accepted once.
 */
export async function deliveryStatus(c: Context<AppEnv>): Promise<Response> {
  refuseSessionToken(c);
  const hook = hookTenant(c);
  const headers = webhookHeaders(c.req.raw.headers);
  const payload = `${SIGNED_PREFIX.lookup}${new URL(c.req.url).pathname}`;
  const verified = await verifyWebhook(hook.secrets, headers, payload);
  if ('refusal' in hook) throw refuse(c, hook.refusal);
  if (!verified.ok) throw refuse(c, verified.reason);
  const { tenant } = hook;
  c.set('tenant', tenant);
  const id = IdSchema.safeParse(c.req.param('delivery_id'));
  if (!id.success) throw field('delivery_id', 'must match ^[A-Za-z0-9_-]{1,128}$');
  let found: LookupResult;
  try {
    found = await deliveries(c, tenant).lookup(id.data, verified.id);
  } catch (error) {
    log('error', 'delivery lookup failed', {
      request_id: c.get('requestId'),
      tenant: tenant.id,
      error: errorName(error),
    });
    throw unavailable();
  }
  if (found.replay) throw refuse(c, 'replay');
  if (!found.row) throw new ApiError('NOT_FOUND', 'Not found.');
  return c.json(toView(found.row), 200);
}

function field(name: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `${name}: ${message}.`, { field: name });
}
