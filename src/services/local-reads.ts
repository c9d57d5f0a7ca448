import { Owners } from '../limits/owners';
import { rateLimitHeaders, ratePolicies } from '../limits/policy';
import {
  type LeaseAnswer,
  type LeaseLeftover,
  type LocalRead,
  leaseCap,
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
  const key = keyOf(ctx);
  const cap = leaseCap(ctx.tenant.limits.burst);
  const owned = () => owners.has(ctx.tenant.scope, ctx.user, kind, id);
  // A read that finds the lease empty asks itself, even with a refill in flight: waiting
  // on another request's promise is not allowed (workerd cancels a request whose
  // continuation another request resolves after it ended, and calls it hung if all it
  // waits on is another request's work).
  const step = leases.begin(key, cap, owned());
  if (step.next === 'local') {
    if (step.read.refill !== undefined) refillInBackground(ctx, key, step.read.refill);
    return grantOf(ctx, step.read, 'local');
  }
  // Refused a moment ago (rate, block): refused again without asking, a fresh error each time.
  if (step.next === 'refused') throw new Refusal(step.refusal.reason, step.refusal);
  let answer: LeaseAnswer;
  try {
    answer = await ask(ctx, step.want, { kind, id }, step.returned);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    const late = leases.askRefused(key, cap, error, {
      drop: error.reason === 'blocked',
      quietMs: quietMsOf(ctx, error),
      // Asked after the await: a concurrent admission may have confirmed the owner meanwhile.
      spendLanded: error.reason === 'rate_user' && owned(),
    });
    if (late) return grantOf(ctx, late, 'local');
    throw error;
  }
  owners.add(ctx.tenant.scope, ctx.user, kind, id);
  return grantOf(ctx, leases.grant(key, answer, true), 'admitted');
}

/**
 * The refusal (rate, block) the tenant's state gave the caller a moment ago, as a fresh
 * error, or `undefined`: an exact admission refused again without asking (services/admission.ts).
 * One memory per (tenant, user) for every route: reads and costly routes draw on the same buckets.
 */
export function recentRefusal(ctx: RequestContext): Refusal | undefined {
  const last = leases.refused(keyOf(ctx));
  return last && new Refusal(last.reason, last);
}

/**
 * An exact admission was refused: a rate or block refusal is remembered for a moment, and
 * a block drops the user's read lease (their next read is refused, not served from it).
 */
export function rememberRefusal(ctx: RequestContext, refusal: Refusal): void {
  const key = keyOf(ctx);
  if (refusal.reason === 'blocked') leases.drop(key);
  const ms = quietMsOf(ctx, refusal);
  if (ms > 0) leases.refuse(key, refusal, ms);
}

/**
 * The operator blocked or let back in a user: this isolate drops what it holds for them
 * at once (a block their lease, either the refusal it remembers); other isolates learn
 * it at their next ask (a lease within its 2 s, a refusal within 250 ms).
 */
export function blockChanged(scope: string, user: string, blocked: boolean): void {
  const key = leaseKey(scope, user);
  if (blocked) leases.drop(key);
  leases.forgive(key);
}

// By scope: a tenant deleted and created again must not inherit its former self's
// confirmed owners, leases or refusals in this isolate.
const keyOf = (ctx: Pick<RequestContext, 'tenant' | 'user'>) => leaseKey(ctx.tenant.scope, ctx.user);
const leaseKey = (tenant: string, user: string) => `${tenant}\u0000${user}`;

/** How long a refusal is remembered: about one token's time for rate and block, never for the rest. */
function quietMsOf(ctx: RequestContext, refusal: Refusal): number {
  return QUIETED.has(refusal.reason) ? refusalQuietMs(ctx.tenant.limits.requests_per_minute) : 0;
}

/** The caller's thread is theirs: the exact path confirmed it (an admission, a creation, a list). */
export function rememberOwner(ctx: RequestContext, kind: 'thread' | 'file', id: string): void {
  owners.add(ctx.tenant.scope, ctx.user, kind, id);
}

/** The caller deleted it: this isolate forgets (others learn it from the upstream's 404). */
export function forgetOwner(ctx: RequestContext, kind: 'thread' | 'file', id: string): void {
  owners.forget(ctx.tenant.scope, ctx.user, kind, id);
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
      const refusal = error instanceof Refusal ? error : undefined;
      leases.refillRefused(key, { drop: refusal?.reason === 'blocked' }, refusal?.retryAfter);
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
