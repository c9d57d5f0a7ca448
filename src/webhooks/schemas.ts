import { z } from 'zod';
import { RESERVED_PREFIX, userIdSchema } from '../auth/subject';
import type { RunResult } from '../stream/sse';
import { IdSchema, type Tenant } from '../tenant';

/**
 * The subject a hook runs as when it names none: one automation user per tenant, the owner
 * of its threads. Neither a token's `sub` nor a hook's `subject` may use the `edge:` prefix
 * (auth/subject.ts), so no end user can ever own these threads.
 */
export const DEFAULT_SUBJECT = `${RESERVED_PREFIX}automation`;

/** `POST /v1/hooks/{tenant}/run`: validated only after the signature is verified. */
export const HookRunBodySchema = z
  .object({
    message: z.string().min(1).max(32_000),
    thread_id: IdSchema.optional(),
    assistant_id: IdSchema.optional(),
    // A token's `sub` rules: a run acts as a user a token could be, or as the default named
    // outright (the same as leaving it out), never as another of the gateway's own.
    subject: userIdSchema(DEFAULT_SUBJECT).optional(),
    callback_url: z.string().min(1).max(2048).optional(),
  })
  .strict();

export type HookRunBody = z.infer<typeof HookRunBodySchema>;

/** What a delivery was asked to do, as the deliveries object keeps it. */
export interface DeliveryRequest {
  subject: string;
  message: string;
  thread_id: string | null;
  assistant_id: string | null;
  callback_url: string | null;
}

/**
 * Why `callback_url` is refused, or `null` when it may be called: it must parse, carry
 * no credentials, be `https:` (or `http:` when that exact origin is listed) and have
 * its origin in the tenant's `callback_origins`.
 */
export function callbackUrlProblem(value: string, tenant: Tenant): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password) return 'must not carry credentials';
  const listed = tenant.callback_origins.includes(url.origin);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && listed)) {
    return 'must be https (http only for an origin listed in callback_origins)';
  }
  if (!listed) return 'origin is not in the tenant’s callback_origins';
  return null;
}

/** Public delivery states, in order: `queued` → `running` → one of the last three. */
export const DELIVERY_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'dead_lettered'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A delivery's error: a code of the contract's vocabulary and a fixed, safe detail. */
export const DeliveryErrorSchema = z.object({ code: z.string(), detail: z.string() });
export type DeliveryError = z.infer<typeof DeliveryErrorSchema>;

export const CALLBACK_STATES = ['pending', 'queued', 'delivered', 'dead_lettered'] as const;
export type CallbackState = (typeof CALLBACK_STATES)[number];

/** What the status route answers (and the callback carries most of). */
export interface DeliveryView {
  delivery_id: string;
  status: DeliveryStatus;
  attempts: number;
  thread_id?: string;
  result?: RunResult;
  error?: DeliveryError;
  callback?: { status: 'pending' | 'delivered' | 'dead_lettered'; attempts: number };
  created_at: string;
  updated_at: string;
}

/** The body POSTed to `callback_url` when a delivery ends. */
export interface CallbackPayload {
  delivery_id: string;
  status: 'succeeded' | 'failed' | 'dead_lettered';
  thread_id: string | null;
  result?: RunResult;
  error?: DeliveryError;
}

/**
 * Queue messages carry ids only; the request itself stays in the deliveries object.
 * `tenant` is the tenant's scope (tenant.ts `scopeOf`; its id unless it was created again
 * after a delete), so a job enqueued before a delete never acts on a tenant created since
 * under the same id (queue/consumer.ts). Jobs from before scopes existed carry the id,
 * which is the first scope: they keep working.
 */
export const RunJobSchema = z.object({ kind: z.literal('run'), tenant: z.string(), delivery_id: IdSchema });
export const CallbackJobSchema = z.object({
  kind: z.literal('callback'),
  tenant: z.string(),
  delivery_id: IdSchema,
});
export type RunJob = z.infer<typeof RunJobSchema>;
export type CallbackJob = z.infer<typeof CallbackJobSchema>;
