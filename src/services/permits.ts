import { lastObservation } from '../limits/observations';
import type { AdmitRequest } from '../objects/tenant-state';
import { keyOf } from '../upstream/tokens';
import type { RequestContext } from './context';

/**
 * The upstream part of an admission: the account whose permits the request takes (the
 * governor's), whether it fails closed without one (`costly`), and what this isolate
 * last saw of the account's rate limit (so the governor learns it).
 */
export async function permitRequest(
  ctx: Pick<RequestContext, 'config'>,
  costly: boolean,
): Promise<NonNullable<AdmitRequest['upstream']>> {
  const account = await keyOf(ctx.config.upstream);
  return { account, costly, seen: lastObservation(account) };
}
