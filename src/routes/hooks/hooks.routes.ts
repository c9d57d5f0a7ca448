import { type RouteConfig, z } from '@hono/zod-openapi';
import { RunResultSchema } from '../../stream/sse';
import { MAX_HOOK_BODY } from '../../webhooks/body';
import { DELIVERY_STATUSES, HookRunBodySchema } from '../../webhooks/schemas';
import { SECURITY } from '../define';
import { errorResponses, jsonContent } from '../schemas';

/**
 * OpenAPI descriptions of the webhook routes. They are registered, not wired through
 * `createRoute`'s validators: a webhook's body must stay unread until its signature over
 * the raw bytes is verified, so the handlers validate it themselves afterwards.
 */

const signatureHeaders = z.object({
  'webhook-id': z.string().openapi({ description: 'Unique message id (no `.`); the idempotency key' }),
  'webhook-timestamp': z.string().openapi({ description: 'Unix seconds; at most 5 minutes off either way' }),
  'webhook-signature': z.string().openapi({
    description: 'Space-separated `v1,<base64 HMAC-SHA256>`; unknown versions are ignored',
  }),
});

const tenantParam = z.object({
  tenant: z.string().openapi({ param: { name: 'tenant', in: 'path' }, example: 'acme' }),
});

const DeliveryAccepted = z.object({ delivery_id: z.string() }).openapi('DeliveryAccepted');

const DeliverySchema = z
  .object({
    delivery_id: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    thread_id: z.string().optional(),
    result: RunResultSchema.optional(),
    error: z.object({ code: z.string(), detail: z.string() }).optional(),
    callback: z
      .object({ status: z.enum(['pending', 'delivered', 'dead_lettered']), attempts: z.number().int() })
      .optional(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Delivery');

/** `POST /hooks/{tenant}/run`. */
export const runHookRoute = {
  method: 'post',
  path: '/hooks/{tenant}/run',
  operationId: 'runWebhook',
  tags: ['Webhooks'],
  security: SECURITY.webhook,
  summary: 'Webhook-triggered run (Standard Webhooks signature; answered at once, run in the background)',
  description:
    `A JSON body (any other \`Content-Type\` is 415) of at most ${MAX_HOOK_BODY} bytes, both checked ` +
    "first, verified over its raw bytes with the tenant's " +
    '`webhook_secret` or any of its `webhook_secrets`; an unknown tenant reads like a bad signature; ' +
    'a session token is refused. A repeated `webhook-id` answers the same `202` and starts nothing. ' +
    'When `callback_url` is given (origin in the tenant’s `callback_origins`), the result is POSTed ' +
    'there, signed over `epsimo-edge.callback.` + the body by every active secret, retried with backoff.',
  request: {
    params: tenantParam,
    headers: signatureHeaders,
    body: { content: { 'application/json': { schema: HookRunBodySchema } }, required: true },
  },
  responses: {
    202: jsonContent(DeliveryAccepted, 'Accepted; `Location` names the status route'),
    ...errorResponses(400, 401, 409, 413, 415),
  },
} satisfies RouteConfig;

/** `GET /hooks/{tenant}/deliveries/{delivery_id}`. */
export const deliveryStatusRoute = {
  method: 'get',
  path: '/hooks/{tenant}/deliveries/{delivery_id}',
  operationId: 'getWebhookDelivery',
  tags: ['Webhooks'],
  security: SECURITY.webhook,
  summary: 'A delivery’s status, signed like a webhook whose payload is the lookup prefix and the path',
  description:
    'Sign `<webhook-id>.<webhook-timestamp>.epsimo-edge.lookup.<path>` (e.g. ' +
    '`epsimo-edge.lookup./v1/hooks/acme/deliveries/dlv_…`) with a tenant webhook secret; use a fresh ' +
    '`webhook-id` per lookup (a reused one is refused).',
  request: {
    params: tenantParam.extend({
      delivery_id: z.string().openapi({ param: { name: 'delivery_id', in: 'path' }, example: 'dlv_abc123' }),
    }),
    headers: signatureHeaders,
  },
  responses: { 200: jsonContent(DeliverySchema, 'The delivery'), ...errorResponses(400, 401, 404) },
} satisfies RouteConfig;
