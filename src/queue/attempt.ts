import type { Config } from '../config';
import { ApiError, retryable } from '../errors';
import { errorName, log } from '../log';
import type { Deliveries, RunTicket } from '../objects/deliveries';
import { admit, type Grant, type Hold, settle } from '../services/admission';
import { createContext, type RequestContext } from '../services/context';
import {
  attachWhole,
  collectResult,
  namedRun,
  type RunRequest,
  type RunStream,
  startRun,
} from '../services/run';
import { createThread } from '../services/threads';
import { RUN_ERRORS } from '../stream/events';
import type { RunResult } from '../stream/sse';
import type { Tenant } from '../tenant';
import type { DeliveryError } from '../webhooks/schemas';

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

/** A webhook run: a thread of its own or a given one, one slot, and no run without a permit. */
const NEW_THREAD = { limiter: 'closed', governor: 'closed', reserve: 'thread', stream: true } as const;
const GIVEN_THREAD = { limiter: 'closed', governor: 'closed', owns: 'thread', stream: true } as const;
/** A retried delivery whose run is retained: read to its end, no new slot, no budget. */
const ITS_RUN = { limiter: 'closed', governor: 'none', owns: 'thread' } as const;

/**
 * Runs a delivery once, non-streaming, exactly as the routes would for its subject:
 * the same admission (rate buckets, an upstream permit, ownership of the given thread
 * or one thread of quota, a stream slot), the thread created when none was given (its
 * id recorded at once, so a retry reuses it), then the run to its end. A retry whose
 * run is retained reads that run to its end, admitted with no slot and no budget (its
 * first attempt paid them). Whatever happens, `settle` gives back what was not used
 * and deferred work is awaited.
 */
export async function attemptRun(ticket: RunTicket, deps: AttemptDeps): Promise<Attempt> {
  const { env, config, tenant, store } = deps;
  const { request } = ticket;
  const deferred: Promise<unknown>[] = [];
  const ctx = createContext({
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
  try {
    const threadId = request.thread_id;
    if (threadId) {
      const named = await namedRun(ctx, runRequest(threadId, ticket));
      if (named) {
        const grant = await admit(ctx, ITS_RUN, threadId);
        return await settled(ctx, grant, async () =>
          collect(ctx, threadId, await attachWhole(ctx, threadId, named)),
        );
      }
      const grant = await admit(ctx, GIVEN_THREAD, threadId);
      return await settled(ctx, grant, () => run(ctx, grant.lease, threadId, ticket));
    }
    const grant = await admit(ctx, NEW_THREAD);
    return await settled(ctx, grant, async () => {
      const thread = await createThread(ctx, grant.reservation, {
        assistant_id: request.assistant_id ?? undefined,
        name: 'Webhook run',
        metadata: { source: 'webhook' },
      });
      await store.setThread(ticket.delivery_id, thread.thread_id);
      return run(ctx, grant.lease, thread.thread_id, ticket);
    });
  } catch (error) {
    return classify(error, ticket.delivery_id);
  } finally {
    // What the attempt metered (a thread created, a run) is sent before it returns.
    await Promise.allSettled([...deferred, ctx.usage.ship()]);
  }
}

/** `work`, then whatever the grant still holds given back. */
async function settled<T>(ctx: RequestContext, grant: Grant, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    await settle(ctx, grant);
  }
}

/**
 * The delivery's run, with the delivery id as its idempotency key: a retry that raced
 * past the check for its run attaches to it here, it never posts the message upstream
 * twice. Nobody watches a webhook run, so it never detach-cancels.
 */
async function run(ctx: RequestContext, lease: Hold, threadId: string, ticket: RunTicket): Promise<Attempt> {
  return collect(ctx, threadId, await startRun(ctx, lease, runRequest(threadId, ticket), 0));
}

const runRequest = (threadId: string, ticket: RunTicket): RunRequest => ({
  threadId,
  message: ticket.request.message,
  idempotencyKey: ticket.delivery_id,
  detachCancels: false,
});

/** The delivery's run read to its end: its result, or its error (retried if a retry can mend it). */
async function collect(ctx: RequestContext, threadId: string, started: RunStream): Promise<Attempt> {
  const outcome = await collectResult(ctx, threadId, started);
  if (outcome.ok) return { kind: 'succeeded', result: outcome.result };
  const { code } = outcome.error;
  const error = { code, detail: RUN_ERRORS[code].detail };
  return RUN_ERRORS[code].retry ? { kind: 'retry', error } : { kind: 'failed', error };
}

/**
 * A thrown error, by the one error table: what a retry can mend (rate limits, slots,
 * upstream trouble) is retried, the rest (a missing thread, a spent quota) is final.
 */
function classify(error: unknown, deliveryId: string): Attempt {
  if (error instanceof ApiError) {
    const failure = { code: error.code, detail: error.detail };
    if (!retryable(error.code)) return { kind: 'failed', error: failure };
    return error.retryAfter === undefined
      ? { kind: 'retry', error: failure }
      : { kind: 'retry', error: failure, retryAfter: error.retryAfter };
  }
  log('error', 'webhook run: unexpected error', { delivery_id: deliveryId, error: errorName(error) });
  return { kind: 'retry', error: INTERNAL };
}
