/**
 * Sends signed webhooks to the Worker the way a tenant's automation would, and looks
 * deliveries up through the signed status route. Queue-driven tests use the base test
 * bindings (tenant `acme`, upstream `https://emulator.test`): the queue consumer runs with
 * those, not with a test's overrides.
 */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { z } from 'zod';
import worker from '../../src/index';
import { SIGNED_PREFIX, signWebhook } from '../../src/webhooks/signature';
import { TENANTS } from '../fixtures/tenants';
import { unique } from './fixtures';
import { parseJson } from './json';
import { callWorker, testEnv } from './worker';

export const HOOK_SECRET = TENANTS.acme.webhook_secret;
/** The fixture tenant's second (rotated-in) secret. */
export const HOOK_SECRET_NEXT = TENANTS.acme.webhook_secrets[0];

/** A fresh webhook-id. */
export const messageId = () => `msg_${unique(16)}`;

export interface HookOptions {
  id?: string;
  /** Unix seconds (default: now). */
  timestamp?: number;
  secret?: string;
  /** Replaces the computed `webhook-signature`. */
  signature?: string;
  headers?: Record<string, string>;
  /** Calls through this function instead of the base bindings (e.g. `testGateway().fetch`). */
  fetch?: (path: string, init: RequestInit) => Promise<Response>;
}

/** Signs `body` (an object is JSON-encoded) and POSTs it to `/v1/hooks/{tenant}/run`. */
export async function sendHook(tenant: string, body: unknown, options: HookOptions = {}): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const id = options.id ?? messageId();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature =
    options.signature ?? (await signWebhook(options.secret ?? HOOK_SECRET, id, timestamp, raw));
  const send = options.fetch ?? callWorker;
  return send(`/v1/hooks/${tenant}/run`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
      ...options.headers,
    },
    body: raw,
  });
}

/** `GET /v1/hooks/{tenant}/deliveries/{id}`, signed over the lookup prefix + path with a fresh webhook-id. */
export async function lookupDelivery(
  tenant: string,
  deliveryId: string,
  options: Omit<HookOptions, 'signature'> = {},
): Promise<Response> {
  const path = `/v1/hooks/${tenant}/deliveries/${deliveryId}`;
  const id = options.id ?? messageId();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = await signWebhook(
    options.secret ?? HOOK_SECRET,
    id,
    timestamp,
    `${SIGNED_PREFIX.lookup}${path}`,
  );
  const send = options.fetch ?? callWorker;
  return send(path, {
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
      ...options.headers,
    },
  });
}

/** A delivery's status body (contract §8); `strictObject`: no key beyond these. */
export const DeliveryBodySchema = z.strictObject({
  delivery_id: z.string(),
  status: z.string(),
  attempts: z.number(),
  thread_id: z.string().optional(),
  result: z
    .strictObject({
      run_id: z.string(),
      content: z.string(),
      tool_calls: z.array(z.strictObject({ name: z.string(), args: z.unknown().optional() })),
    })
    .optional(),
  error: z.strictObject({ code: z.string(), detail: z.string() }).optional(),
  callback: z.strictObject({ status: z.string(), attempts: z.number() }).optional(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type DeliveryBody = z.output<typeof DeliveryBodySchema>;

/** The 202 body of `POST /v1/hooks/{tenant}/run`. */
export const DeliveryAcceptedSchema = z.object({ delivery_id: z.string() });

/**
 * Polls the status route until `done` holds for the delivery (default: a final status);
 * `lookup` as {@link lookupDelivery}'s options (a test gateway's `fetch`).
 */
export async function waitForDelivery(
  tenant: string,
  deliveryId: string,
  done: (d: DeliveryBody) => boolean = (d) => ['succeeded', 'failed', 'dead_lettered'].includes(d.status),
  timeoutMs = 10_000,
  lookup: Omit<HookOptions, 'signature'> = {},
): Promise<DeliveryBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await lookupDelivery(tenant, deliveryId, lookup);
    expect(res.status).toBe(200);
    const body = await parseJson(res, DeliveryBodySchema);
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`delivery never matched: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many deliveries the tenant's object holds (read inside the object). */
export async function deliveryCount(tenant: string): Promise<number> {
  const stub = env.DELIVERIES.get(env.DELIVERIES.idFromName(tenant));
  return runInDurableObject(
    stub,
    (_instance, state) =>
      state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM deliveries').one().n,
  );
}

/**
 * The Worker with the base bindings (with `bindings` over them, e.g. a test gateway's
 * `overrides`), but a `RUNS` queue that records every message sent (and passes it on), or
 * fails every send when `failSends` is set.
 */
export function workerWithQueueSpy(
  options: { failSends?: boolean; bindings?: Partial<Record<keyof Env, string>> } = {},
) {
  const sent: unknown[] = [];
  const runs: Queue = {
    metrics: () => env.RUNS.metrics(),
    send: async (message, sendOptions) => {
      sent.push(message);
      if (options.failSends) throw new Error('queue unavailable (test)');
      return env.RUNS.send(message, sendOptions);
    },
    sendBatch: (messages, batchOptions) => env.RUNS.sendBatch(messages, batchOptions),
  };
  const fetchWorker = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(new URL(path, 'https://edge.test'), init),
      { ...testEnv(options.bindings), RUNS: runs },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return response;
  };
  return { sent, fetch: fetchWorker };
}

/** What the queue handler decided for the one message of a batch. */
export interface Decision {
  acked: boolean;
  retried: boolean;
  delaySeconds: number | undefined;
}

/**
 * Runs the Worker's queue handler on one message of `queue` (its `attempts`-th delivery)
 * with the bindings `queueEnv`, and records its decision. (cloudflare:test's
 * `getQueueResult` does not report retry delays, so the batch is a recorder of our own.)
 */
export async function consume(
  queue: string,
  body: unknown,
  attempts: number,
  queueEnv: Env = env,
): Promise<Decision> {
  const decision: Decision = { acked: false, retried: false, delaySeconds: undefined };
  const message: Message<unknown> = {
    id: `m-${unique()}`,
    timestamp: new Date(),
    body,
    attempts,
    ack: () => {
      decision.acked = true;
    },
    retry: (options) => {
      decision.retried = true;
      decision.delaySeconds = options?.delaySeconds;
    },
  };
  const batch: MessageBatch<unknown> = {
    queue,
    messages: [message],
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
    ackAll: () => message.ack(),
    retryAll: (options) => message.retry(options),
  };
  await worker.queue(batch, queueEnv);
  return decision;
}

/**
 * A delivery accepted by the real ingress and never enqueued (the queue send fails, `503`):
 * its run job, for a test to hand to {@link consume} itself. `bindings` as
 * {@link workerWithQueueSpy}'s (the tenant must be one of them).
 */
export async function recordedDelivery(
  tenant: string,
  body: Record<string, unknown>,
  bindings: Partial<Record<keyof Env, string>> = {},
): Promise<{ deliveryId: string; job: { kind: 'run'; tenant: string; delivery_id: string } }> {
  const failing = workerWithQueueSpy({ failSends: true, bindings });
  const res = await sendHook(tenant, body, { fetch: failing.fetch });
  expect(res.status).toBe(503);
  const [sent] = z.array(z.object({ delivery_id: z.string() })).parse(failing.sent);
  const deliveryId = sent?.delivery_id ?? '';
  return { deliveryId, job: { kind: 'run', tenant, delivery_id: deliveryId } };
}
