import type { Config } from '../config';
import { ApiError } from '../errors';
import { tenantsOf } from '../registry';
import type { TenantRow } from '../registry/store';
import { createContext } from '../services/context';
import { deleteThread } from '../services/threads';

/**
 * Threads deleted per call, at most: each is an upstream call, and a Worker request has a
 * bounded number of them. The operator calls again while `remaining` is above 0.
 */
export const PURGE_LIMIT = 50;

export interface ThreadsDeleted {
  /** Threads deleted by this call. */
  deleted: number;
  /** Threads the user still holds (creations in flight included). */
  remaining: number;
}

/**
 * `DELETE /admin/v1/tenants/{tenant}/users/{sub}/threads`: deletes the newest
 * {@link PURGE_LIMIT} threads of `user` in the incarnation `row` names, each as the
 * user's own `DELETE /v1/threads/{id}` does (the upstream first, then its quota freed and
 * its running run cancelled), one at a time, so an upstream failure stops the call with
 * what it deleted kept (a repeat goes on from there). Not admitted: a blocked user's
 * threads are deleted too (the webhook subject `edge:automation`, whose quota only the
 * operator can free, is one no token can act as), and no rate or permit is taken.
 */
export async function deleteThreadsOf(
  env: Env,
  config: Config,
  row: TenantRow,
  user: string,
  request: { requestId: string; signal: AbortSignal; defer(promise: Promise<unknown>): void },
): Promise<ThreadsDeleted> {
  // Read from the row, not the isolate's registry copy: the incarnation in force now.
  const tenant = tenantsOf([row], config.localDev).tenants.get(row.id);
  if (!tenant) throw new ApiError('CONFIG_INVALID', 'The tenant’s stored configuration is not valid.');
  const ctx = createContext({ env, config, tenant, user, ...request });
  const { threads } = await ctx.state.threadsOf(user, PURGE_LIMIT);
  for (const threadId of threads) await deleteThread(ctx, threadId);
  const { held } = await ctx.state.threadsOf(user, 0);
  return { deleted: threads.length, remaining: held };
}
