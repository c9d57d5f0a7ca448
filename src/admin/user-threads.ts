import type { Config } from '../config';
import { ApiError } from '../errors';
import { lastObservation } from '../limits/observations';
import { errorName, log } from '../log';
import { tenantsOf } from '../registry';
import type { TenantRow } from '../registry/store';
import { createContext, type RequestContext } from '../services/context';
import { deleteThread } from '../services/threads';
import { keyOf } from '../upstream/tokens';

/**
 * Threads deleted per call, at most: each costs an upstream call and two object calls, and
 * a Worker request has a bounded number of subrequests. The operator calls again while
 * `remaining` is above 0.
 */
export const PURGE_LIMIT = 50;

/** How long to wait when the governor cannot answer, or a failure says nothing. */
const DEFAULT_RETRY_S = 5;

export interface ThreadsDeleted {
  /** Threads deleted by this call. */
  deleted: number;
  /** Threads whose delete failed for good this call (the upstream refused it): left in place. */
  failed: number;
  /** Threads the user still holds (creations in flight included). */
  remaining: number;
  /** Seconds to wait before calling again: the upstream's budget is spent, or it is unreachable. */
  retry_after?: number;
}

/**
 * `DELETE /admin/v1/tenants/{tenant}/users/{sub}/threads`: deletes up to
 * {@link PURGE_LIMIT} threads of `user` in the incarnation `row` names, newest first, each as
 * the user's own `DELETE /v1/threads/{id}` does (the upstream first, then its quota freed
 * and its running run cancelled). Not admitted: a blocked user's threads are deleted too
 * (the webhook subject `edge:automation`, whose quota only the operator can free, is one no
 * token can act as), and the user's rate is not taken. The upstream account is shared, so
 * every delete takes a permit from its governor like any upstream call: the call stops
 * when the governor grants none, or at a failure a retry could mend (`retry_after`). A
 * delete the upstream refuses is counted in `failed` and passed over.
 */
export async function deleteThreadsOf(
  env: Env,
  config: Config,
  row: TenantRow,
  user: string,
  request: Pick<RequestContext, 'requestId' | 'signal' | 'defer'>,
): Promise<ThreadsDeleted> {
  // Read from the row, not the isolate's registry copy: the incarnation in force now.
  const tenant = tenantsOf([row], config.localDev).tenants.get(row.id);
  if (!tenant) throw new ApiError('CONFIG_INVALID', 'The tenant’s stored configuration is not valid.');
  const ctx = createContext({ env, config, tenant, user, ...request });
  const { threads } = await ctx.state.threadsOf(user, PURGE_LIMIT);
  const outcome = await deleteWithPermits(ctx, env, threads);
  const { held } = await ctx.state.threadsOf(user, 0);
  return { ...outcome, remaining: held };
}

/** Deletes `threads` in the order given, each on a permit of the account's governor. */
async function deleteWithPermits(ctx: RequestContext, env: Env, threads: readonly string[]) {
  // Knowing the account's key also lets this isolate report the upstream's 429s to it.
  const account = await keyOf(ctx.config.upstream);
  const governor = env.GOVERNOR.getByName(account);
  let [deleted, failed] = [0, 0];
  let retryAfter: number | undefined;
  let left = [...threads];
  while (left.length > 0 && retryAfter === undefined) {
    const grant = await governor
      .acquire(ctx.tenant.id, left.length, lastObservation(account))
      .catch(() => ({ granted: 0, retryAfter: DEFAULT_RETRY_S, window: '' }));
    if (grant.granted === 0) {
      retryAfter = Math.max(1, grant.retryAfter);
      break;
    }
    const batch = left.slice(0, grant.granted);
    left = left.slice(grant.granted);
    let used = 0;
    for (const threadId of batch) {
      used++;
      const result = await deleteOne(ctx, threadId);
      if (result.ok) deleted++;
      else if (result.retryAfter === undefined) failed++;
      else {
        retryAfter = result.retryAfter;
        break;
      }
    }
    // Permits this call will not use go back to the window they came from (if that fails,
    // they lapse with their lease).
    const unused = { window: grant.window, count: batch.length - used };
    if (unused.count > 0) await governor.release(ctx.tenant.id, unused).catch(() => undefined);
  }
  return { deleted, failed, ...(retryAfter === undefined ? {} : { retry_after: retryAfter }) };
}

/** One thread deleted, or why not: with `retryAfter` when a retry could mend it. */
async function deleteOne(
  ctx: RequestContext,
  threadId: string,
): Promise<{ ok: true } | { ok: false; retryAfter?: number }> {
  try {
    await deleteThread(ctx, threadId);
    return { ok: true };
  } catch (error) {
    log('warn', 'operator thread delete failed', { request_id: ctx.requestId, error: errorName(error) });
    // The upstream unreachable, over its limit or slow (503, 504): the next delete would fail
    // too. Anything else (a refusal, an unusable answer) is this thread's: pass it over.
    if (!(error instanceof ApiError) || (error.status !== 503 && error.status !== 504)) return { ok: false };
    return { ok: false, retryAfter: error.retryAfter ?? DEFAULT_RETRY_S };
  }
}
