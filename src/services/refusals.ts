import { ApiError } from '../errors';
import { errorName, log } from '../log';
import type { Admission, DenyReason } from '../objects/tenant-state';
import type { RequestContext } from './context';

/** A refusal by admission, with the reason for the log. */
export class Refusal extends ApiError {
  readonly reason: DenyReason;
  /** The thread the refused request named by its chat id, if the refusal says (a stream slot's). */
  readonly thread: string | undefined;

  constructor(reason: DenyReason, error: ApiError, thread?: string) {
    super(error.code, error.detail, {
      headers: error.headers,
      ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
      ...(error.field === undefined ? {} : { field: error.field }),
    });
    this.reason = reason;
    this.thread = thread;
  }

  /** Refused a stream slot: another run holds it. */
  get forSlot(): boolean {
    return this.reason === 'streams' || this.reason === 'streams_user';
  }
}

/**
 * Retry-After for a thread- or file-quota 429 (the contract puts one on every 429). The
 * quota frees only when a thread or file is deleted, so this is a polite pause, not a promise.
 */
const QUOTA_RETRY_AFTER_S = 60;

/** The tenant's state could not answer a request that fails closed: logged, and refused. */
export function limiterClosed(ctx: Pick<RequestContext, 'requestId' | 'tenant'>, error: unknown): Refusal {
  log('error', 'limiter unavailable: failing closed', {
    request_id: ctx.requestId,
    tenant: ctx.tenant.id,
    error: errorName(error),
  });
  return new Refusal(
    'limiter',
    new ApiError('LIMITER_UNAVAILABLE', 'The gateway cannot check limits right now.', { retryAfter: 5 }),
  );
}

/**
 * The request's field that names the run's thread: a thread's run names it by `thread_id`,
 * a chat turn (`POST /v1/chat`) by its chat's `id`.
 */
export type ThreadField = 'thread_id' | 'id';

/** The tenant state's refusal as the caller's error, with the RateLimit headers it carries. */
export function refused(
  result: Extract<Admission, { ok: false }>,
  headers: Record<string, string>,
  threadField: ThreadField = 'thread_id',
): Refusal {
  return new Refusal(result.reason, refusal(result, threadField).withHeaders(headers), result.thread);
}

/** The one table from the tenant state's refusal reasons to the contract's errors. */
function refusal(result: Extract<Admission, { ok: false }>, threadField: ThreadField): ApiError {
  const retry = result.retryAfter === undefined ? {} : { retryAfter: result.retryAfter };
  switch (result.reason) {
    case 'blocked':
      return new ApiError('USER_BLOCKED', 'This user is blocked by the operator.');
    case 'rate_user':
      return new ApiError('RATE_LIMITED', 'You are sending requests too fast.', retry);
    case 'rate_tenant':
      return new ApiError('RATE_LIMITED', 'This tenant is sending requests too fast.', retry);
    case 'not_found':
      return new ApiError('NOT_FOUND', 'Not found.');
    case 'quota_user':
      return new ApiError('QUOTA_EXCEEDED', 'You have reached your thread quota.', {
        retryAfter: QUOTA_RETRY_AFTER_S,
      });
    case 'quota_total':
      return new ApiError('QUOTA_EXCEEDED', 'This tenant has reached its thread quota.', {
        retryAfter: QUOTA_RETRY_AFTER_S,
      });
    case 'quota_files':
      return new ApiError('QUOTA_EXCEEDED', 'You have reached your file quota.', {
        retryAfter: QUOTA_RETRY_AFTER_S,
      });
    case 'streams':
      return new ApiError('TOO_MANY_STREAMS', 'This tenant has too many runs in progress.', retry);
    case 'streams_user':
      return new ApiError('TOO_MANY_STREAMS', 'You have too many runs in progress.', retry);
    case 'budget':
      return new ApiError(
        'BUDGET_EXCEEDED',
        `The ${(result.budget ?? 'spending').replaceAll('_', ' ')} budget is spent until its window ends.`,
        retry,
      );
    case 'chat_busy':
      return new ApiError('RUN_IN_PROGRESS', 'This chat is starting its first run; try again shortly.', {
        retryAfter: 1,
      });
    case 'key_conflict':
      return new ApiError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used on another thread.');
    case 'assistant_revoked':
      return new ApiError(
        'VALIDATION_ERROR',
        threadField === 'id'
          ? "id: the assistant of this chat's thread is no longer offered by this tenant."
          : 'thread_id: its assistant is no longer offered by this tenant.',
        { field: threadField },
      );
    case 'upstream_budget':
      return new ApiError('UPSTREAM_RATE_LIMITED', 'The upstream request budget is spent for now.', retry);
    case 'limiter':
      return new ApiError('LIMITER_UNAVAILABLE', 'The gateway cannot check limits right now.', retry);
  }
}
