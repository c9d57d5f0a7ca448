import type { Config } from '../config';
import { errorName, log } from '../log';
import type { Deliveries, Outcome } from '../objects/deliveries';
import { currentConfig } from '../registry';
import { leaseTtlMs } from '../services/admission';
import { tenantOfScope } from '../tenant';
import { CallbackJobSchema, RunJobSchema } from '../webhooks/schemas';
import { type Attempt, attemptRun } from './attempt';
import { backoffSeconds, retryBaseSeconds } from './backoff';
import { attemptCallback, queueCallback } from './callbacks';

interface Deps {
  env: Env;
  /** `WEBHOOK_RETRY_BASE_SECONDS`. */
  base: number;
}

type Handler = (message: Message<unknown>, deps: Deps) => Promise<void>;

/**
 * The Worker's `queue` handler, for all four webhook queues (wrangler.toml): run jobs,
 * result callbacks, and the dead-letter queue of each (any queue whose name ends in
 * `-dlq`). Messages are handled concurrently and each is acked or retried on its own;
 * nothing thrown escapes, so one bad message never retries the batch.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const deadLetters = batch.queue.endsWith('-dlq');
  const deps: Deps = { env, base: retryBaseSeconds(env.WEBHOOK_RETRY_BASE_SECONDS) };
  await Promise.all(
    batch.messages.map(async (message) => {
      const handler = pick(message.body, deadLetters);
      try {
        await handler(message, deps);
      } catch (error) {
        log('error', 'webhook job failed; retrying', {
          queue: batch.queue,
          message_id: message.id,
          attempt: message.attempts,
          error: errorName(error),
        });
        message.retry({ delaySeconds: backoffSeconds(message.attempts, deps.base) });
      }
    }),
  );
}

function pick(body: unknown, deadLetters: boolean): Handler {
  if (RunJobSchema.safeParse(body).success) return deadLetters ? deadRun : run;
  if (CallbackJobSchema.safeParse(body).success) return deadLetters ? deadCallback : callback;
  return malformed;
}

/** The deliveries object of a job's scope (webhooks/schemas.ts `RunJobSchema`). */
const deliveries = (env: Env, scope: string): DurableObjectStub<Deliveries> =>
  env.DELIVERIES.getByName(scope);

/** The configuration in force, the registry's tenants included (read like a request's). */
async function config(env: Env): Promise<Config> {
  const result = await currentConfig(env);
  if (!result.ok) throw new ConfigError();
  return result.config;
}

class ConfigError extends Error {
  override readonly name = 'ConfigInvalid';
}

/** A run job: one attempt at the delivery, then ack, or retry with backoff. */
const run: Handler = async (message, { env, base }) => {
  const job = RunJobSchema.parse(message.body);
  const cfg = await config(env);
  const store = deliveries(env, job.tenant);
  const budgetMs = leaseTtlMs({ config: cfg });
  const begun = await store.begin(job.delivery_id, budgetMs);
  const fields = { tenant: job.tenant, delivery_id: job.delivery_id };
  switch (begun.action) {
    case 'missing':
      log('warn', 'webhook run: no such delivery (expired?)', fields);
      return message.ack();
    case 'done':
      if (begun.callback) await queueCallback(env, store, job.tenant, job.delivery_id);
      return message.ack();
    case 'busy':
      return message.retry({ delaySeconds: backoffSeconds(1, 0, begun.retryAfter) });
  }
  const { ticket } = begun;
  // Deleted, or deleted and created again since (another scope): the job's tenant is gone.
  const tenant = tenantOfScope(cfg.tenants, job.tenant);
  const attempt: Attempt = tenant
    ? await attemptRun(ticket, { env, config: cfg, tenant, store, budgetMs })
    : { kind: 'failed', error: { code: 'CONFIG_INVALID', detail: 'The tenant is no longer configured.' } };
  if (attempt.kind === 'retry') {
    await store.retryLater(job.delivery_id, attempt.error);
    const delaySeconds = backoffSeconds(message.attempts, base, attempt.retryAfter);
    log('warn', 'webhook run attempt failed; retrying (dead-lettered after max_retries)', {
      ...fields,
      attempt: ticket.attempt,
      code: attempt.error.code,
      delay_s: delaySeconds,
    });
    return message.retry({ delaySeconds });
  }
  const outcome: Outcome =
    attempt.kind === 'succeeded'
      ? { status: 'succeeded', result: attempt.result }
      : { status: 'failed', error: attempt.error };
  const { callback } = await store.finish(job.delivery_id, outcome);
  log(attempt.kind === 'succeeded' ? 'info' : 'warn', `webhook run ${outcome.status}`, {
    ...fields,
    attempt: ticket.attempt,
    code: attempt.kind === 'failed' ? attempt.error.code : undefined,
  });
  if (callback) await queueCallback(env, store, job.tenant, job.delivery_id);
  message.ack();
};

/** A run job that exhausted its retries: recorded as `dead_lettered`, logged, called back. */
const deadRun: Handler = async (message, { env }) => {
  const job = RunJobSchema.parse(message.body);
  const store = deliveries(env, job.tenant);
  const { changed, callback } = await store.deadLetter(job.delivery_id);
  log('error', 'webhook run dead-lettered', { tenant: job.tenant, delivery_id: job.delivery_id, changed });
  if (callback) await queueCallback(env, store, job.tenant, job.delivery_id);
  message.ack();
};

/** A callback job: one attempt, then ack, or retry with backoff. */
const callback: Handler = async (message, { env, base }) => {
  const job = CallbackJobSchema.parse(message.body);
  const next = await attemptCallback(job, await config(env), deliveries(env, job.tenant));
  if (next === 'done') return message.ack();
  message.retry({ delaySeconds: backoffSeconds(message.attempts, base) });
};

/** A callback that exhausted its retries: recorded and logged. */
const deadCallback: Handler = async (message, { env }) => {
  const job = CallbackJobSchema.parse(message.body);
  await deliveries(env, job.tenant).callbackDone(job.delivery_id, 'dead_lettered');
  log('error', 'webhook callback dead-lettered', { tenant: job.tenant, delivery_id: job.delivery_id });
  message.ack();
};

/** Nothing the gateway sent: logged and dropped (a retry could not make it readable). */
const malformed: Handler = async (message) => {
  log('error', 'webhook job malformed; dropped', { message_id: message.id });
  message.ack();
};
