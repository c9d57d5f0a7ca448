import { rateLimitHeaders, ratePolicies } from '../limits/policy';
import {
  type LeaseAnswer,
  type LeaseLeftover,
  type LocalRead,
  leaseCap,
  Owners,
  ReadLeases,
  refusalQuietMs,
} from '../limits/read-leases';
import type { RequestContext } from './context';
import { permitRequest } from './permits';
import { limiterClosed, Refusal, refused } from './refusals';

/** This isolate's read leases and confirmed owners (limits/read-leases.ts). */
const leases = new ReadLeases<Refusal>();
const owners = new Owners();

/** Refusals a read remembers for a moment (a not-found or an object down is asked again). */
const QUIETED: ReadonlySet<Refusal['reason']> = new Set(['rate_user', 'rate_tenant', 'blocked']);

/** What a read admitted here grants: the `RateLimit` pair and whether it holds a permit. */
export interface ReadGrant {
  /** `local`: from the lease, no round trip; `admitted`: the tenant's state was asked. */
  outcome: 'local' | 'admitted';
  headers: Record<string, string>;
  permit: boolean;
}

/**
 * Admits a user's read of their own thread (or file) without a round trip to the
 * tenant's state, when this isolate can: it has seen the object confirm the owner, and
 * the user's read lease still holds a token. Otherwise it asks the object once (the
 * ownership check and a fresh lease in one call) and throws the contract's refusal as
 * {@link Refusal}. What costs money or slots never comes here (services/admission.ts).
 */
export async function admitRead(
  ctx: RequestContext,
  kind: 'thread' | 'file',
  id: string,
): Promise<ReadGrant> {
  const key = `${ctx.tenant.id}\u0000${ctx.user}`;
  const cap = leaseCap(ctx.tenant.limits.burst);
  if (owners.has(ctx.tenant.id, ctx.user, kind, id)) {
    // A read that finds the lease empty asks itself, even with a refill in flight: waiting
    // on another request's promise is not allowed (workerd cancels a request whose
    // continuation another request resolves after it ended, and calls it hung if all it
    // waits on is another request's work).
    const read = leases.take(key, cap);
    if (read) {
      if (read.refill !== undefined) refillInBackground(ctx, key, read.refill);
      return grantOf(ctx, read, 'local');
    }
  }
  // Refused a moment ago (rate, block): refused again without asking, a fresh error each time.
  const last = leases.refused(key);
  if (last) throw new Refusal(last.reason, last);
  let answer: LeaseAnswer;
  try {
    answer = await ask(ctx, leases.want(key, cap), { kind, id }, leases.leftover(key));
  } catch (error) {
    if (error instanceof Refusal && error.reason === 'blocked') leases.drop(key);
    if (error instanceof Refusal && QUIETED.has(error.reason)) {
      leases.refuse(key, error, refusalQuietMs(ctx.tenant.limits.requests_per_minute));
    }
    // The object's bucket is empty, but a concurrent read's lease may have landed meanwhile
    // holding some of its last tokens: spend one of those rather than leave it unused.
    const retry =
      error instanceof Refusal &&
      error.reason === 'rate_user' &&
      owners.has(ctx.tenant.id, ctx.user, kind, id);
    const late = retry ? leases.take(key, cap) : undefined;
    if (late) return grantOf(ctx, late, 'local');
    throw error;
  }
  owners.add(ctx.tenant.id, ctx.user, kind, id);
  return grantOf(ctx, leases.grant(key, answer, true), 'admitted');
}

/** The caller's thread is theirs: the exact path confirmed it (an admission, a creation, a list). */
export function rememberOwner(ctx: RequestContext, kind: 'thread' | 'file', id: string): void {
  owners.add(ctx.tenant.id, ctx.user, kind, id);
}

/** The caller deleted it: this isolate forgets (others learn it from the upstream's 404). */
export function forgetOwner(ctx: RequestContext, kind: 'thread' | 'file', id: string): void {
  owners.forget(ctx.tenant.id, ctx.user, kind, id);
}

/**
 * Refills the lease while it still holds reads, kept alive by this request. A refusal
 * leaves the lease to spend what it holds (a blocked user's is dropped at once); the next
 * read that finds it empty asks in the foreground and gets the refusal itself.
 */
function refillInBackground(ctx: RequestContext, key: string, want: number): void {
  const refill = ask(ctx, want).then(
    (answer) => {
      leases.grant(key, answer, false);
    },
    (error: unknown) => {
      if (error instanceof Refusal && error.reason === 'blocked') leases.drop(key);
      else leases.quiet(key, error instanceof Refusal ? error.retryAfter : undefined);
    },
  );
  leases.track(key, refill);
  ctx.defer(refill);
}

/**
 * One lease of `want` reads from the tenant's state, with the ownership check when `owns`
 * is given, giving back what the user's expired lease held (`returned`).
 */
async function ask(
  ctx: RequestContext,
  want: number,
  owns?: { kind: 'thread' | 'file'; id: string },
  returned?: LeaseLeftover,
): Promise<LeaseAnswer> {
  const upstream = await permitRequest(ctx, false);
  let result: Awaited<ReturnType<RequestContext['state']['admit']>>;
  try {
    result = await ctx.state.admit({
      tenant: ctx.tenant.id,
      user: ctx.user,
      limits: ctx.tenant.limits,
      reads: returned ? { want, returned } : { want },
      upstream,
      ...(owns ? { owns } : {}),
    });
  } catch (error) {
    throw limiterClosed(ctx, error);
  }
  if (!result.ok) {
    const headers = rateLimitHeaders(ratePolicies(ctx.tenant.limits), result.rate);
    throw refused(result, headers);
  }
  const { granted = 1, permits = 0, window } = result.reads ?? {};
  return { granted, permits, window, rate: result.rate };
}

function grantOf(ctx: RequestContext, read: LocalRead, outcome: ReadGrant['outcome']): ReadGrant {
  return {
    outcome,
    headers: rateLimitHeaders(ratePolicies(ctx.tenant.limits), read.rate),
    permit: read.permit,
  };
}
