import type { ThreadRuns } from '../objects/thread-runs';
import type { RequestContext } from './context';

/**
 * How many runs objects hold a tenant's threads. Not one per thread: an object instance
 * costs more memory than the run it holds (measured under workerd: a stream relayed from
 * its own object about 350 KiB, from a shared one about 130 KiB, a bare pass-through about
 * 100 KiB), and each active object is billed on its own. 16 keeps a busy tenant's runs
 * spread over several objects (each relays its runs' events on one thread). Changing it
 * moves threads to other objects, where their retained runs are not: a migration, not a
 * setting.
 */
export const RUN_SHARDS = 16;

/** The shard of a thread: FNV-1a of its id, so a thread always maps to the same object. */
export function runShard(threadId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < threadId.length; i++) {
    hash ^= threadId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % RUN_SHARDS;
}

/** A runs object's name: the tenant incarnation's scope and the shard. */
const shardName = (scope: string, shard: number) => `${scope}:runs:${shard}`;

/** The runs object of the thread's shard (`<scope>:runs:<shard>`). */
export const runsOf = (
  ctx: Pick<RequestContext, 'runs' | 'tenant'>,
  threadId: string,
): DurableObjectStub<ThreadRuns> => ctx.runs.getByName(shardName(ctx.tenant.scope, runShard(threadId)));

/**
 * Cancels every running run of `user` in the tenant incarnation `scope` (the operator
 * blocked them: what they started stops too), one call to each of its runs objects;
 * resolves to how many were cancelled, once each has ended and given its slot back.
 */
export async function cancelRunsOf(
  runs: DurableObjectNamespace<ThreadRuns>,
  scope: string,
  user: string,
): Promise<number> {
  const shards = Array.from({ length: RUN_SHARDS }, (_, shard) => runs.getByName(shardName(scope, shard)));
  const counts = await Promise.all(shards.map((stub) => stub.cancelAllOf(user)));
  return counts.reduce((sum, n) => sum + n, 0);
}
