import { ApiError } from '../errors';
import { rateLimitHeaders, ratePolicies } from '../limits/policy';
import { errorName, log } from '../log';
import { meter } from '../metering/usage';
import type {
  Admission,
  AdmitRequest,
  FileRecord,
  Page,
  PageRequest,
  ThreadRecord,
  Usage,
} from '../objects/tenant-state';
import { allowanceStale, guardAccount } from './account';
import type { RequestContext } from './context';
import { Hold } from './hold';
import { admitRead, recentRefusal, rememberOwner, rememberRefusal } from './local-reads';
import { permitRequest } from './permits';
import { limiterClosed, Refusal, refused } from './refusals';

export { Hold } from './hold';
export { Refusal } from './refusals';

/**
 * What a route (or a background job) needs admitted before it runs, with its fail modes
 * written out. `limiter` says what happens when the tenant's state object cannot answer;
 * `governor` whether the work calls the upstream (`none`: no permit taken) and, when the
 * account's governor cannot answer, whether it goes ahead (`open`) or is refused
 * (`closed`). Only routes that touch no per-user data may fail the limiter open: the
 * type allows nothing else with `limiter: 'open'`.
 */
export type AdmissionSpec =
  | {
      limiter: 'closed';
      governor: 'open' | 'closed' | 'none';
      /** Ownership gate: the request's thread or file (its `<kind>_id`) must be the caller's. */
      owns?: 'thread' | 'file';
      /**
       * Reserve one thread of quota (thread creation), or hold one of the user's
       * `files_per_user` while an upload is in flight.
       */
      reserve?: 'thread' | 'file';
      /**
       * The request names a chat (its id is the target): `find` answers the thread it
       * names; `open` also reserves one of quota, as `reserve` does, when it names none.
       */
      chat?: 'open' | 'find';
      /** Take a concurrent-stream slot (runs). */
      stream?: true;
      /** Data the handler needs back from the tenant's state (lists: one page, see {@link admit}). */
      want?: 'threads' | 'files' | 'usage';
      /** Only the tenant's rate bucket counts (webhook ingress), not a user's. */
      rate?: 'tenant';
    }
  | { limiter: 'open'; governor: 'open' | 'closed' | 'none' }
  /**
   * A user's read of their own thread: admitted in the isolate (services/local-reads.ts)
   * from a read lease, once the tenant's state confirmed the owner to this isolate; it
   * fails closed when the object cannot answer a refill. Nothing that costs money or a
   * slot may say `local`: the type allows no holds, data or budget with it.
   */
  | { limiter: 'local'; governor: 'open'; owns: 'thread' };

/**
 * The limiter's outcome, for the access log: `local` is a read admitted from this
 * isolate's read lease, with no round trip (services/local-reads.ts).
 */
export type LimiterOutcome = 'admitted' | 'local' | 'fail_open';

interface BaseGrant {
  outcome: LimiterOutcome;
  /** The `RateLimit-Policy` / `RateLimit` pair for the response (empty when failed open). */
  headers: Record<string, string>;
  /** An upstream permit was taken: refunded by {@link settle} when no upstream call was made. */
  permit: boolean;
  reservation?: Hold;
  /** An upload's hold on one of the user's file slots. */
  upload?: Hold;
  lease?: Hold;
}

type Has<S, K extends string, V> = S extends Record<K, V> ? true : false;

/** An opened chat: the thread it names, or the reservation its first thread is created under. */
export type OpenedChat =
  | { threadId: string; reservation?: undefined }
  | { threadId: null; reservation: Hold };

/** What admission granted for `S`: the holds and data the spec asked for, typed. */
export type Grant<S extends AdmissionSpec = AdmissionSpec> = BaseGrant &
  (Has<S, 'reserve', 'thread'> extends true ? { reservation: Hold } : unknown) &
  (Has<S, 'reserve', 'file'> extends true ? { upload: Hold } : unknown) &
  (Has<S, 'stream', true> extends true ? { lease: Hold } : unknown) &
  (Has<S, 'chat', 'open'> extends true ? { chat: OpenedChat } : unknown) &
  (Has<S, 'chat', 'find'> extends true ? { chat: { threadId: string | null } } : unknown) &
  (Has<S, 'want', 'threads'> extends true ? { threads: Page<ThreadRecord> } : unknown) &
  (Has<S, 'want', 'files'> extends true ? { files: Page<FileRecord> } : unknown) &
  (Has<S, 'want', 'usage'> extends true ? { usage: Usage; rate: Admitted['rate'] } : unknown);

type Admitted = Extract<Admission, { ok: true }>;

/** A lease outlives the longest possible run (first byte plus duration) by this much. */
export const LEASE_MARGIN_MS = 60_000;
/** How long a run may hold its slot before the alarm frees it: the run's longest life. */
export const leaseTtlMs = (ctx: Pick<RequestContext, 'config'>) =>
  ctx.config.stream.firstByteTimeoutMs + ctx.config.stream.maxDurationMs + LEASE_MARGIN_MS;

/**
 * How long an upload may hold its file slot before the alarm frees it: its body's
 * deadline plus the upstream's time to answer (services/files.ts), and the margin.
 */
export const uploadTtlMs = (ctx: Pick<RequestContext, 'config'>) =>
  ctx.config.bodyTimeoutMs + ctx.config.upstream.timeoutMs + LEASE_MARGIN_MS;

/** What a request asks of its admission besides its spec and target. */
export interface AdmitAsks {
  /** A list's page, as the route's query asked for it. */
  page?: PageRequest | undefined;
  /** A new run's `Idempotency-Key`: bound to the run's thread (`target`), refused if used on another. */
  idempotencyKey?: string | undefined;
}

/**
 * The one round trip to the tenant's state object: rate buckets (user and tenant),
 * ownership of `target` (the thread or file id, when the spec gates on one), an upstream
 * permit, thread or file quota, stream lease and the data the spec wants (for a list,
 * the page in `asks`). Throws the contract's error when refused ({@link Refusal}) or
 * when the limiter fails closed.
 */
export async function admit<S extends AdmissionSpec>(
  ctx: RequestContext,
  spec: S,
  target?: string,
  asks?: AdmitAsks,
): Promise<Grant<S>>;
export async function admit(
  ctx: RequestContext,
  spec: AdmissionSpec,
  target?: string,
  asks: AdmitAsks = {},
): Promise<Grant> {
  if (spec.limiter === 'local') {
    if (target === undefined) throw new TypeError('a local read names the thread it reads');
    return admitRead(ctx, spec.owns, target);
  }
  // Webhook ingress counts against the tenant's bucket only: a user's refusal is not its own.
  const tenantOnly = 'rate' in spec && spec.rate === 'tenant';
  const remembers = !tenantOnly;
  // Refused for the rate or a block a moment ago: refused again without a round trip, so a
  // client hammering past its limit costs the tenant's object one call per quiet time.
  const recent = remembers ? recentRefusal(ctx) : undefined;
  if (recent) throw recent;
  const request: AdmitRequest = { tenant: ctx.tenant.id, user: ctx.user, limits: ctx.tenant.limits };
  if (paidRate.has(ctx)) request.ratePaid = true;
  if (spec.governor !== 'none') {
    request.upstream = await permitRequest(ctx, spec.governor === 'closed');
  }
  if (spec.limiter === 'closed') {
    if (spec.owns && target !== undefined) request.owns = { kind: spec.owns, id: target };
    if (spec.chat && target !== undefined) request.chat = { id: target, open: spec.chat === 'open' };
    if (spec.reserve === 'thread') request.reserveThread = true;
    if (spec.reserve === 'file') request.reserveFile = { ttlMs: uploadTtlMs(ctx) };
    if (spec.stream) request.lease = { ttlMs: leaseTtlMs(ctx) };
    if (spec.stream && (spec.owns === 'thread' || spec.chat)) request.assistants = ctx.tenant.assistants;
    if (spec.want) request.want = spec.want;
    const { page, idempotencyKey } = asks;
    if (page && (spec.want === 'threads' || spec.want === 'files')) request.page = page;
    if (spec.rate === 'tenant') request.tenantOnly = true;
    if (spec.stream && spec.owns === 'thread' && target !== undefined && idempotencyKey !== undefined)
      request.runKey = { key: idempotencyKey, threadId: target };
  }

  let result: Admission;
  try {
    result = await ctx.state.admit(request);
  } catch (error) {
    return limiterDown(ctx, spec, error);
  }
  const headers = rateLimitHeaders(ratePolicies(ctx.tenant.limits), result.rate, tenantOnly);
  if (!result.ok) {
    const refusal = refused(result, headers, 'chat' in spec && spec.chat ? 'id' : 'thread_id');
    if (remembers) rememberRefusal(ctx, refusal);
    throw refusal;
  }
  const grant: Grant & Partial<Record<'threads' | 'files' | 'usage' | 'rate' | 'chat', unknown>> = {
    outcome: 'admitted',
    headers,
    permit: result.permit === true,
    rate: result.rate,
  };
  if (result.reservation) grant.reservation = new Hold(result.reservation, result.reservationSpend);
  if (result.fileHold) grant.upload = new Hold(result.fileHold);
  if (result.lease) grant.lease = new Hold(result.lease, result.leaseSpend);
  if (result.threads) grant.threads = result.threads;
  if (result.files) grant.files = result.files;
  if (result.usage) grant.usage = result.usage;
  if (request.owns) rememberOwner(ctx, request.owns.kind, request.owns.id);
  if (result.chatThread !== undefined) grant.chat = openedChat(result.chatThread, grant.reservation);
  // What spends the operator's threads stops for everyone when the account runs low. Asked
  // after the tenant's state admitted the request, so a caller it refuses (a blocked user,
  // say) never makes the gateway log in or read the account; the holds go back if refused.
  if (spec.limiter === 'closed' && (spec.reserve === 'thread' || spec.chat === 'open' || spec.stream)) {
    await guardAccount(ctx).catch((error: unknown) => refusedBy(ctx, grant, error));
  }
  return grant;
}

/** The chat part of a grant: a thread, or (opened, naming none) the reservation taken for one. */
function openedChat(threadId: string | null, reservation: Hold | undefined): OpenedChat | { threadId: null } {
  if (threadId !== null) return { threadId };
  return reservation ? { threadId: null, reservation } : { threadId: null };
}

const paidRate = new WeakSet<RequestContext>();

/**
 * The request's rate token was taken by an admission that was then refused after it (for
 * a stream slot): admitted again (a chat turn that ended its own stopped run), it takes no
 * second token, so the retry cannot be refused for the rate its first try spent.
 */
export function ratePaid(ctx: RequestContext): void {
  paidRate.add(ctx);
}

/**
 * Gives back what the work did not use, when it ends however it ended: the upstream
 * permit of work that never called the upstream (a 400, say), and every hold no
 * service claimed, with its budget units when the upstream spent nothing (it refused,
 * or was never asked; a timeout may have created the thread, so that stays spent).
 * Resolves when the tenant's state has them back; never throws. `undefined` when there
 * is nothing to give back (a read that called the upstream): nothing to keep alive.
 */
export function settle(ctx: RequestContext, grant: Grant): Promise<unknown> | undefined {
  const steps: Promise<unknown>[] = [];
  // A run handed to its object (the lease claimed) calls the upstream from there.
  const calledOut = ctx.upstream.upstreamCalls > 0 || grant.lease?.claimed === true;
  if (grant.permit && !calledOut) steps.push(ctx.state.refundPermit());
  const { reservation, upload, lease } = grant;
  // A thread is created by this request's own upstream calls; a run by its runs object,
  // which tells `startRun` whether its upstream may have begun it (`Hold.mayHaveSpent`).
  if (reservation && !reservation.claimed) {
    if (ctx.upstream.mayHaveSpent) reservation.mayHaveSpent();
    steps.push(ctx.state.releaseThread(ctx.user, reservation.id, [...reservation.refund]));
    // A creation the upstream refused may mean the account ran out: ask it again.
    if (ctx.upstream.upstreamCalls > 0 && !ctx.upstream.mayHaveSpent) steps.push(allowanceStale(ctx));
  }
  if (upload && !upload.claimed) steps.push(ctx.state.releaseFile(ctx.user, upload.id));
  if (lease && !lease.claimed) steps.push(ctx.state.releaseLease(lease.id, [...lease.refund]));
  return steps.length === 0 ? undefined : Promise.allSettled(steps);
}

/**
 * The `RateLimit` pair for a request refused for its input before admission ran: it
 * still counts against the caller's rate (every authenticated request does), and takes
 * nothing else. `undefined` when the limiter cannot answer.
 */
export async function rateOnly(ctx: RequestContext): Promise<Record<string, string> | undefined> {
  try {
    const result = await ctx.state.admit({
      tenant: ctx.tenant.id,
      user: ctx.user,
      limits: ctx.tenant.limits,
    });
    return rateLimitHeaders(ratePolicies(ctx.tenant.limits), result.rate);
  } catch {
    return undefined;
  }
}

/**
 * The account guard refused (or failed): the grant's holds go back with their budget
 * units (nothing was spent; the permit stays spent if the guard's own read used it), the
 * refusal is metered (`refused.account`), and the error is thrown on with the grant's
 * `RateLimit` pair (the request was admitted, and counted).
 */
function refusedBy(ctx: RequestContext, grant: Grant, error: unknown): never {
  const { reservation, lease } = grant;
  const steps: Promise<unknown>[] = [];
  if (grant.permit && ctx.upstream.upstreamCalls === 0) steps.push(ctx.state.refundPermit());
  if (reservation) steps.push(ctx.state.releaseThread(ctx.user, reservation.claim(), [...reservation.spend]));
  if (lease) steps.push(ctx.state.releaseLease(lease.claim(), [...lease.spend]));
  ctx.defer(Promise.allSettled(steps));
  if (!(error instanceof ApiError)) throw error;
  if (error.code === 'ACCOUNT_EXHAUSTED') meter(ctx, { 'refused.account': 1 });
  throw error.withHeaders(grant.headers);
}

function limiterDown(ctx: RequestContext, spec: AdmissionSpec, error: unknown): Grant {
  if (spec.limiter === 'open') {
    log('warn', 'limiter unavailable: failing open', {
      request_id: ctx.requestId,
      tenant: ctx.tenant.id,
      error: errorName(error),
    });
    return { outcome: 'fail_open', headers: {}, permit: false };
  }
  throw limiterClosed(ctx, error);
}
