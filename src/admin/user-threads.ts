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
 * Threads deleted per call, at most: each costs an upstream call, two object calls and a
 * share of the governor's, and a Worker request has a bounded number of subrequests (this
 * fits a paid plan's). The operator calls again while `remaining` is above 0.
 */
export const PURGE_LIMIT = 50;

/** How long to wait when the governor cannot answer, or a failure says nothing. */
const DEFAULT_RETRY_S = 5;

export interface ThreadsDeleted {
  /** Threads deleted by this call. */
  deleted: number;
  /** Threads whose delete failed this call: left in place (a repeat tries them again). */
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
 * every delete takes a permit from its governor, failing closed when it cannot answer: the
 * call stops when the governor grants none, or after three failed deletes in a row
 * (`retry_after`); a failed delete is counted in `failed` and passed over.
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
  const threads = await ctx.state.threadsOf(user, PURGE_LIMIT);
  const outcome = await deleteWithPermits(ctx, env, threads);
  return { ...outcome, remaining: await ctx.state.threadsHeld(user) };
}

/** Permits asked of the governor at a time: a few, used within their short lease. */
const PERMIT_BATCH = 4;
/** Failed deletes in a row that end the call: the upstream is then likelier down than each thread. */
const FAILURES_TO_STOP = 3;

/**
 * Deletes `threads` in the order given, each on a permit of the account's governor (asked
 * for a few at a time; one whose lease ran out goes back unused, as the governor has
 * counted it for its window). A failed delete is counted and passed over; three in a row
 * end the call with the last one's `retry_after`.
 */
async function deleteWithPermits(ctx: RequestContext, env: Env, threads: readonly string[]) {
  // Knowing the account's key also lets this isolate report the upstream's 429s to it.
  const account = await keyOf(ctx.config.upstream);
  const governor = env.GOVERNOR.getByName(account);
  let [deleted, failed, inARow] = [0, 0, 0];
  let retryAfter: number | undefined;
  const left = [...threads];
  while (left.length > 0 && retryAfter === undefined) {
    const want = Math.min(left.length, PERMIT_BATCH);
    const grant = await governor
      .acquire(ctx.tenant.id, want, lastObservation(account))
      .catch(() => ({ granted: 0, expiresAt: 0, retryAfter: DEFAULT_RETRY_S, window: '' }));
    if (grant.granted === 0) {
      retryAfter = Math.max(1, grant.retryAfter);
      break;
    }
    let unused = grant.granted;
    // The first permit of a grant is always used, so every grant makes progress.
    for (let first = true; unused > 0 && (first || Date.now() < grant.expiresAt); first = false) {
      const threadId = left.shift();
      if (threadId === undefined) break;
      unused--;
      const result = await deleteOne(ctx, threadId);
      if (result.ok) {
        deleted++;
        inARow = 0;
        continue;
      }
      failed++;
      inARow++;
      if (inARow >= FAILURES_TO_STOP) {
        retryAfter = result.retryAfter;
        break;
      }
    }
    // Unused permits go back to the window they came from (if that fails, they lapse).
    if (unused > 0) {
      const returned = { window: grant.window, count: unused };
      await governor.release(ctx.tenant.id, returned).catch(() => undefined);
    }
  }
  return { deleted, failed, ...(retryAfter === undefined ? {} : { retry_after: retryAfter }) };
}

/**
 * One thread deleted, or how long to wait should the failure be the upstream's. Any failure
 * leaves the thread counted (an upstream that refused it, or the gateway's own bookkeeping
 * after the upstream deleted it: a repeat then finds it gone upstream, which counts as deleted).
 */
async function deleteOne(
  ctx: RequestContext,
  threadId: string,
): Promise<{ ok: true } | { ok: false; retryAfter: number }> {
  try {
    await deleteThread(ctx, threadId);
    return { ok: true };
  } catch (error) {
    log('warn', 'operator thread delete failed', { request_id: ctx.requestId, error: errorName(error) });
    const retryAfter = error instanceof ApiError ? error.retryAfter : undefined;
    return { ok: false, retryAfter: retryAfter ?? DEFAULT_RETRY_S };
  }
}
