import { z } from 'zod';
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
 * Threads deleted per call, at most, bounded by a Worker request’s subrequests: 50 on the
 * Workers Free plan, where the gateway must work too. Each delete costs some 7 at worst:
 * the upstream DELETE and its 2 retries, the state object’s removal, the runs object’s
 * cancel, and the governor’s acquire and release (a share of one per batch once it is
 * synced; one each per delete while it is not, as it then grants 1 at a time). That is 35
 * for 5, plus some 6 per call (the registry, the thread list and count, the audit, a token
 * fetch), under 50. The operator calls again while `remaining` is above 0 (the CLI does).
 */
export const PURGE_LIMIT = 5;

/** How long to wait when the governor cannot answer, or a failure says nothing. */
const DEFAULT_RETRY_S = 5;

/** What one purge call did: the route's answer (routes/admin/admin.routes.ts). */
export const ThreadsDeletedSchema = z.object({
  tenant: z.string(),
  user: z.string(),
  deleted: z
    .number()
    .describe(
      'Threads this call deleted and whose record it removed (not one a concurrent delete removed first)',
    ),
  failed: z
    .number()
    .describe(
      'Threads whose delete failed this call, at the upstream or in the gateway’s record after the upstream deleted it: still recorded (a repeat tries them again)',
    ),
  remaining: z.number().describe('Threads the user still holds (creations in flight included)'),
  retry_after: z
    .number()
    .optional()
    .describe(
      'Seconds to wait before calling again: the upstream’s budget is spent, or deletes keep failing',
    ),
});
export type ThreadsDeleted = z.infer<typeof ThreadsDeletedSchema>;

/**
 * `DELETE /admin/v1/tenants/{tenant}/users/{sub}/threads`: deletes up to
 * {@link PURGE_LIMIT} threads of `user` in the incarnation `row` names, newest first, each as
 * the user's own `DELETE /v1/threads/{id}` does (the upstream first, then its quota freed
 * and its running run cancelled). Not admitted: a blocked user's threads are deleted too
 * (the webhook subject `edge:automation`, whose quota only the operator can free, is one no
 * token can act as), and the user's rate is not taken. The upstream account is shared, so
 * every delete takes a permit from its governor, failing closed when it cannot answer: the
 * call stops when the governor grants none, or after three failed deletes in a row
 * (`retry_after`); a failed delete is counted in `failed` and passed over. A thread counts in
 * `deleted` only if this call removed its record: of two purges (or a purge and the user's
 * own delete) racing for it, one counts it, and the other neither deleted nor failed.
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
  return { tenant: row.id, user, ...outcome, remaining: await ctx.state.threadsHeld(user) };
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
        if (result.removed) deleted++;
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
 * One thread deleted (and whether this call removed its record), or how long to wait. A
 * failure leaves the thread recorded, whichever side failed: the upstream (an `ApiError`: it
 * refused, is down, or timed out) or the gateway's own record after the upstream deleted it
 * (anything else, e.g. the state object failing). A repeat tries it again; one then gone
 * upstream (404) whose record this call removes counts as deleted, as the upstream did
 * delete it and this call freed its quota.
 */
async function deleteOne(
  ctx: RequestContext,
  threadId: string,
): Promise<{ ok: true; removed: boolean } | { ok: false; retryAfter: number }> {
  try {
    return { ok: true, removed: await deleteThread(ctx, threadId) };
  } catch (error) {
    const upstream = error instanceof ApiError;
    // The gateway's own failure is not the upstream's: logged louder, and told apart.
    log(upstream ? 'warn' : 'error', 'operator thread delete failed', {
      request_id: ctx.requestId,
      side: upstream ? 'upstream' : 'gateway',
      error: errorName(error),
    });
    return { ok: false, retryAfter: (upstream ? error.retryAfter : undefined) ?? DEFAULT_RETRY_S };
  }
}
