import { type RunResult, RunResultSchema } from '../stream/sse';
import {
  type CallbackPayload,
  type CallbackState,
  type DeliveryError,
  DeliveryErrorSchema,
  type DeliveryRequest,
  type DeliveryStatus,
  type DeliveryView,
} from './schemas';

/** How long a webhook-id is remembered (and a delivery can be looked up): 72 h. */
export const RETENTION_MS = 72 * 3600_000;
/** A status lookup's webhook-id is remembered this long (longer than the timestamp window both ways). */
export const NONCE_TTL_MS = 11 * 60_000;
/** Something left pending (an enqueue, a callback) is re-sent by the alarm after this long. */
export const SWEEP_AFTER_MS = 60_000;
/** A stored result's `content` is cut to this many characters (SQLite rows stay small). */
export const MAX_STORED_CONTENT = 256 * 1024;

/** The object's tables; created in its constructor. */
export const DELIVERIES_SCHEMA = `
  CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT,
    thread_id TEXT,
    assistant_id TEXT,
    callback_url TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    enqueue TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    result TEXT,
    error TEXT,
    callback_id TEXT,
    callback_state TEXT,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    sweep_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS deliveries_by_expiry ON deliveries (expires_at);
  CREATE INDEX IF NOT EXISTS deliveries_by_sweep ON deliveries (sweep_at);
  CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
`;

/** One row of `deliveries`, as SQLite returns it. */
export type DeliveryRow = {
  webhook_id: string;
  delivery_id: string;
  tenant: string;
  body_hash: string;
  subject: string;
  message: string | null;
  thread_id: string | null;
  assistant_id: string | null;
  callback_url: string | null;
  status: DeliveryStatus;
  attempts: number;
  lease_until: number | null;
  /** Whether the run job is known to be on the queue. */
  enqueue: 'pending' | 'sent' | 'failed';
  claimed_at: number;
  result: string | null;
  error: string | null;
  callback_id: string | null;
  callback_state: CallbackState | null;
  callback_attempts: number;
  sweep_at: number | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
};

export const TERMINAL: ReadonlySet<DeliveryStatus> = new Set(['succeeded', 'failed', 'dead_lettered']);

/** What the ingress records of a verified webhook. */
export interface NewDelivery {
  tenant: string;
  webhook_id: string;
  body_hash: string;
  request: DeliveryRequest;
}

/** Inserts a `queued` delivery whose enqueue is pending; resolves to its new id. */
export function insertDelivery(sql: SqlStorage, input: NewDelivery, now: number): string {
  const deliveryId = `dlv_${crypto.randomUUID().replaceAll('-', '')}`;
  const { request } = input;
  sql.exec(
    `INSERT INTO deliveries (webhook_id, delivery_id, tenant, body_hash, subject, message, thread_id, assistant_id,
       callback_url, status, enqueue, claimed_at, sweep_at, created_at, updated_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 'pending', ?, ?, ?, ?, ?)`,
    input.webhook_id,
    deliveryId,
    input.tenant,
    input.body_hash,
    request.subject,
    request.message,
    request.thread_id,
    request.assistant_id,
    request.callback_url,
    now,
    now + SWEEP_AFTER_MS,
    now,
    now,
    now + RETENTION_MS,
  );
  return deliveryId;
}

/** When the alarm should next run: the earliest expiry (record or nonce) or sweep. */
export function nextWakeUp(sql: SqlStorage): number | null {
  return sql
    .exec<{ next: number | null }>(
      `SELECT MIN(t) AS next FROM (
         SELECT MIN(expires_at) AS t FROM deliveries
         UNION ALL SELECT MIN(sweep_at) AS t FROM deliveries
         UNION ALL SELECT MIN(expires_at) AS t FROM nonces)`,
    )
    .one().next;
}

/** What a run job needs of its delivery. */
export interface RunTicket {
  delivery_id: string;
  attempt: number;
  request: DeliveryRequest;
}

/** A callback attempt: where to, under which webhook-id, what. */
export interface CallbackTicket {
  url: string;
  callback_id: string;
  attempt: number;
  payload: CallbackPayload;
}

/** The callback attempt a row (from `callbackAttempt`) describes, if it has a callback. */
export function toCallbackTicket(row: DeliveryRow): CallbackTicket | null {
  if (!row.callback_url || !row.callback_id) return null;
  return {
    url: row.callback_url,
    callback_id: row.callback_id,
    attempt: row.callback_attempts,
    payload: toCallbackPayload(row),
  };
}

/** A result as stored: the content cut to {@link MAX_STORED_CONTENT}. */
export function storedResult(result: RunResult): string {
  const content =
    result.content.length > MAX_STORED_CONTENT ? result.content.slice(0, MAX_STORED_CONTENT) : result.content;
  return JSON.stringify({ ...result, content });
}

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function rowResult(row: DeliveryRow): RunResult | undefined {
  const parsed = RunResultSchema.safeParse(parseJson(row.result));
  return parsed.success ? parsed.data : undefined;
}

export function rowError(row: DeliveryRow): DeliveryError | undefined {
  const parsed = DeliveryErrorSchema.safeParse(parseJson(row.error));
  return parsed.success ? parsed.data : undefined;
}

/** The public view of a row: no message, subject, callback URL or webhook-id. */
export function toView(row: DeliveryRow): DeliveryView {
  const view: DeliveryView = {
    delivery_id: row.delivery_id,
    status: row.status,
    attempts: row.attempts,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
  if (row.thread_id) view.thread_id = row.thread_id;
  const result = row.status === 'succeeded' ? rowResult(row) : undefined;
  if (result) view.result = result;
  const error = row.status === 'succeeded' ? undefined : rowError(row);
  if (error) view.error = error;
  if (row.callback_state) {
    view.callback = {
      status: row.callback_state === 'queued' ? 'pending' : row.callback_state,
      attempts: row.callback_attempts,
    };
  }
  return view;
}

/** The callback body for a finished row. */
export function toCallbackPayload(row: DeliveryRow): CallbackPayload {
  const status = row.status === 'succeeded' || row.status === 'failed' ? row.status : 'dead_lettered';
  const payload: CallbackPayload = { delivery_id: row.delivery_id, status, thread_id: row.thread_id };
  const result = status === 'succeeded' ? rowResult(row) : undefined;
  if (result) payload.result = result;
  const error = status === 'succeeded' ? undefined : rowError(row);
  if (error) payload.error = error;
  return payload;
}

// The deliveries object's RPC types (src/objects/deliveries.ts).

/**
 * A verified webhook, as the ingress records it; `body_hash` (SHA-256 of the raw body,
 * hex) only serves to log a webhook-id reused with another body.
 */
export type AcceptInput = NewDelivery;

/** `enqueue`: the caller must put the run on the queue (then report `enqueued` or `enqueueFailed`). */
export interface AcceptResult {
  delivery_id: string;
  duplicate: boolean;
  enqueue: boolean;
  /** The webhook-id is known with another body: nothing was recorded or enqueued. */
  conflict?: true;
}

export type BeginResult =
  | { action: 'run'; ticket: RunTicket }
  /** Already ended; `callback`: its callback still has to be queued. */
  | { action: 'done'; callback: boolean }
  /** Another attempt holds the run (a redelivered message): try again later. */
  | { action: 'busy'; retryAfter: number }
  | { action: 'missing' };

/**
 * A status lookup: a replayed lookup id, or the record (`null`: no such delivery here).
 * Rows cross the RPC boundary as flat columns; `toView` (webhooks/store.ts) shapes them.
 */
export type LookupResult = { replay: true } | { replay: false; row: DeliveryRow | null };

export type Outcome = { status: 'succeeded'; result: RunResult } | { status: 'failed'; error: DeliveryError };
