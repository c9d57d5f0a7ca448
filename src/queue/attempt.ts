import type { Config, Tenant } from '../config';
import { ApiError } from '../errors';
import { lastObservation } from '../limits/observations';
import { errorName, log } from '../log';
import type { Deliveries, RunTicket } from '../objects/deliveries';
import type { Admission, AdmitRequest } from '../objects/tenant-state';
import { createGateway } from '../services/gateway';
import { startRun } from '../services/run';
import { createThread } from '../services/threads';
import { RUN_ERRORS } from '../stream/events';
import { collectRun } from '../stream/sse';
import { keyOf } from '../upstream/tokens';
import type { DeliveryError, RunResult } from '../webhooks/schemas';

/** How one attempt at a delivery's run ended. */
export type Attempt =
  | { kind: 'succeeded'; result: RunResult }
  | { kind: 'failed'; error: DeliveryError }
  | { kind: 'retry'; error: DeliveryError; retryAfter?: number };

/** What an attempt runs with. */
export interface AttemptDeps {
  env: Env;
  config: Config;
  tenant: Tenant;
  store: DurableObjectStub<Deliveries>;
  /** How long the attempt may take in all (its lease in the deliveries object). */
  budgetMs: number;
}

const INTERNAL: DeliveryError = { code: 'INTERNAL', detail: 'Internal error.' };

/**
 * Runs a delivery once, non-streaming, exactly as the routes would for its subject:
 * one admission to the tenant's state (rate buckets, an upstream permit, ownership of
 * the given thread or one thread of quota, a stream lease), the thread created when none was given (its id
 * recorded at once, so a retry reuses it), then `startRun` + `collectRun`. Whatever
 * happens, the reservation and lease are given back and deferred work is awaited.
 */
export async function attemptRun(ticket: RunTicket, deps: AttemptDeps): Promise<Attempt> {
  const { env, config, tenant, store } = deps;
  const { request } = ticket;
  const deferred: Promise<unknown>[] = [];
  const gw = createGateway({
    env,
    config,
    tenant,
    user: request.subject,
    requestId: ticket.delivery_id,
    signal: AbortSignal.timeout(deps.budgetMs),
    defer: (promise) => {
      deferred.push(promise.catch(() => undefined));
    },
  });
  const account = await keyOf(config.upstream);
  const admit: AdmitRequest = {
    tenant: tenant.id,
    user: request.subject,
    limits: tenant.limits,
    lease: { ttlMs: deps.budgetMs },
    // A run costs money upstream: without a governor permit it waits (fails closed).
    upstream: { account, costly: true, seen: lastObservation(account) },
  };
  if (request.thread_id) admit.owns = { kind: 'thread', id: request.thread_id };
  else admit.reserveThread = true;

  let admission: Admission;
  try {
    admission = await gw.state.admit(admit);
  } catch (error) {
    log('error', 'webhook run: limiter unavailable', {
      delivery_id: ticket.delivery_id,
      error: errorName(error),
    });
    return {
      kind: 'retry',
      error: { code: 'LIMITER_UNAVAILABLE', detail: 'The gateway could not check limits.' },
    };
  }
  if (!admission.ok) return refused(admission);
  gw.admitted = admission;
  try {
    let threadId = request.thread_id;
    if (!threadId) {
      const thread = await createThread(gw, {
        assistant_id: request.assistant_id ?? undefined,
        name: 'Webhook run',
        metadata: { source: 'webhook' },
      });
      threadId = thread.thread_id;
      await store.setThread(ticket.delivery_id, threadId);
    }
    const run = await collectRun(await startRun(gw, threadId, request.message));
    if (run.ok) return { kind: 'succeeded', result: run.result };
    const error = { code: run.error.code, detail: RUN_ERRORS[run.error.code] };
    const permanent = ['EVENT_TOO_LARGE', 'STREAM_TOO_LONG', 'RESULT_TOO_LARGE'].includes(run.error.code);
    return permanent ? { kind: 'failed', error } : { kind: 'retry', error };
  } catch (error) {
    return classify(error, ticket.delivery_id);
  } finally {
    const { reservation, lease, permit } = admission;
    // As on the request path: a run refused before it reached the upstream spends no budget.
    if (permit && gw.upstream.upstreamCalls === 0) deferred.push(gw.state.refundPermit());
    if (reservation && !gw.claimed.has(reservation))
      deferred.push(gw.state.releaseThread(request.subject, reservation));
    if (lease && !gw.claimed.has(lease)) deferred.push(gw.state.releaseLease(lease));
    await Promise.allSettled(deferred);
  }
}

/** An admission refusal: a missing thread or spent quota is final, a limit is retried. */
function refused(admission: Extract<Admission, { ok: false }>): Attempt {
  const retryAfter = admission.retryAfter;
  const retry = (code: string, detail: string): Attempt =>
    retryAfter === undefined
      ? { kind: 'retry', error: { code, detail } }
      : { kind: 'retry', error: { code, detail }, retryAfter };
  switch (admission.reason) {
    case 'not_found':
      return { kind: 'failed', error: { code: 'NOT_FOUND', detail: 'Not found.' } };
    case 'quota_user':
    case 'quota_total':
      return {
        kind: 'failed',
        error: { code: 'QUOTA_EXCEEDED', detail: 'The subject or tenant has reached its thread quota.' },
      };
    case 'streams':
      return retry('TOO_MANY_STREAMS', 'This tenant has too many runs in progress.');
    case 'rate_user':
    case 'rate_tenant':
      return retry('RATE_LIMITED', 'The subject or tenant is over its rate limit.');
    default:
      return retry('LIMITER_UNAVAILABLE', 'The gateway could not admit the run.');
  }
}

/** A thrown error: upstream 5xx, 429s and the unknown are retried; other 4xx are final. */
function classify(error: unknown, deliveryId: string): Attempt {
  if (error instanceof ApiError) {
    const failure = { code: error.code, detail: error.detail };
    if (error.status === 429 || error.status >= 500) {
      return error.retryAfter === undefined
        ? { kind: 'retry', error: failure }
        : { kind: 'retry', error: failure, retryAfter: error.retryAfter };
    }
    return { kind: 'failed', error: failure };
  }
  log('error', 'webhook run: unexpected error', { delivery_id: deliveryId, error: errorName(error) });
  return { kind: 'retry', error: INTERNAL };
}
