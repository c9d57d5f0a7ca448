import { ApiError } from '../errors';
import { sha256Hex } from '../hash';
import { meter } from '../metering/usage';
import type { NamedRun, ResumePoint, RetryNames, RunView } from '../runs/schema';
import { runFailure } from '../stream/events';
import { relayEventsOf } from '../stream/run-events';
import { collectRun, type RunResult } from '../stream/sse';
import { type Hold, Refusal } from './admission';
import type { RequestContext } from './context';
import { runsOf } from './run-shards';

export { RUN_SHARDS, runShard } from './run-shards';

/** What a caller asks of a run: the message, and what makes a repeat attach instead of pay. */
export interface RunRequest {
  threadId: string;
  message: string;
  /** `Idempotency-Key`: the same key (same user, 24 h) attaches to the run it started. */
  idempotencyKey?: string | undefined;
  /** A re-posted `Last-Event-ID`: attach to that run after it. */
  resume?: ResumePoint | undefined;
  /** Webhook runs go on when nobody is attached; a caller's run is cancelled after the grace. */
  detachCancels: boolean;
  /**
   * A token of this request's own: with it, a keyed request that finds no run claims its
   * key until its start (see {@link namedRun}). Webhook redeliveries come one at a time.
   */
  claim?: string | undefined;
}

/** A run to read: its id, its SSE frames, and whether it was already running. */
export interface RunStream {
  runId: string;
  frames: ReadableStream<Uint8Array>;
  attached: boolean;
}

/**
 * Starts a run on the caller's thread, or attaches to the one its idempotency key or
 * resume point names. Admission already checked ownership and took the stream slot
 * (`lease`): a new run takes the hold (its object releases the slot when the run ends,
 * however it ends); an attach leaves it, so the caller's admission gives it back.
 * `pingMs` is the connection's heartbeat (0: none, for callers that read to the end).
 */
export async function startRun(
  ctx: RequestContext,
  lease: Hold,
  request: RunRequest,
  pingMs: number,
): Promise<RunStream> {
  const { upstream, stream, runs } = ctx.config;
  const { id, scope, project_id, tool_calls } = ctx.tenant;
  const object = runsOf(ctx, request.threadId);
  const names = await retryNames(request);
  // A webhook run is read by nobody anyway, and never detach-cancels: no starter to watch.
  const starter = request.detachCancels ? crypto.randomUUID() : undefined;
  // Gone already (during admission, or before a chat's retry): no run is begun, and billed,
  // for nobody; admission gives the slot and the unit back.
  if (starter && ctx.signal.aborted)
    throw new ApiError('RUN_CANCELLED', 'The caller left before its run began.');
  const at = { threadId: request.threadId, user: ctx.user };
  const unwatch = starter ? onHangUp(ctx, () => object.left(at, starter)) : () => undefined;
  const outcome = await object
    .start({
      config: { upstream, stream, runs },
      tenant: { id, scope, project_id, tool_calls },
      user: ctx.user,
      threadId: request.threadId,
      message: request.message,
      requestId: ctx.requestId,
      claim: request.claim,
      starter,
      lease: lease.id,
      spend: [...lease.spend],
      ...names,
      detachCancels: request.detachCancels,
      pingMs,
    })
    .catch((error: unknown) => {
      // The object may have begun the run before the call failed: its unit stays spent.
      lease.mayHaveSpent();
      throw error;
    })
    .finally(unwatch);
  switch (outcome.kind) {
    case 'started':
      lease.claim();
      // Its end (completed or cancelled, events, time) is metered by its object.
      meter(ctx, { runs_started: 1 });
      return { runId: outcome.runId, frames: outcome.stream, attached: false };
    case 'attached':
      return { runId: outcome.runId, frames: outcome.stream, attached: true };
    case 'busy':
      throw inProgress(outcome.runId);
    case 'conflict':
      throw conflict();
    case 'refused':
      // A refusal costs nothing (the slot and unit go back), unless the upstream never answered.
      if (outcome.mayHaveSpent) lease.mayHaveSpent();
      throw new ApiError(
        outcome.code,
        outcome.detail,
        outcome.retryAfter === undefined ? {} : { retryAfter: outcome.retryAfter },
      );
  }
}

/**
 * Calls `left` if the caller hangs up before the returned function is called: while a
 * start is pending nothing has been written to the caller (its object waits up to the
 * header grace for the upstream's headers, a caller reading to the end up to the
 * first-byte timeout), so its connection is never cancelled, and only the request's
 * signal knows it left. `left` is kept alive past the request (`defer`); a
 * request cancelled while the start's answer was on its way never unwatches, and so
 * tells the object too.
 */
function onHangUp(ctx: RequestContext, left: () => Promise<unknown>): () => void {
  const hungUp = () => ctx.defer(left());
  ctx.signal.addEventListener('abort', hungUp, { once: true });
  return () => ctx.signal.removeEventListener('abort', hungUp);
}

/**
 * A new run refused a stream slot on a thread whose run is still running is told of that
 * run (`409 RUN_IN_PROGRESS`, what its start would have answered), not to wait for a slot:
 * a freed slot would not let it start. The runs object is asked only on such a refusal.
 */
export async function refusalOf(ctx: RequestContext, threadId: string, error: unknown): Promise<unknown> {
  if (!(error instanceof Refusal) || !error.forSlot) return error;
  const running = await runsOf(ctx, threadId)
    .active({ threadId, user: ctx.user })
    .catch(() => null);
  if (running === null) return error;
  return inProgress(running).withHeaders(error.headers);
}

/**
 * Cancels the caller's running run on the thread (`RUN_CANCELLED`), with `detachedOnly`
 * only if nobody is reading it (a chat frontend that stopped only hung up): `true` once
 * it has ended and its slot is back.
 */
export async function cancelThreadRun(ctx: RequestContext, threadId: string, detachedOnly: boolean) {
  return runsOf(ctx, threadId).cancelRunning({ threadId, user: ctx.user }, detachedOnly);
}

/** What makes a run request a retry, as its runs object reads it (the key with the body's hash). */
async function retryNames(request: RunRequest): Promise<RetryNames> {
  const names: RetryNames = request.resume === undefined ? {} : { resume: request.resume };
  if (request.idempotencyKey === undefined) return names;
  const body = new TextEncoder().encode(`${request.threadId}\n${request.message}`);
  return { ...names, idempotency: { key: request.idempotencyKey, bodyHash: await sha256Hex(body) } };
}

/**
 * The retained run of the caller's a retry names (its `Idempotency-Key`, a re-posted
 * `Last-Event-ID`), asked of the thread's runs object before admission: attaching to it
 * takes no stream slot and spends no budget, so a client that retries at its limits is
 * not refused what it already paid for. `null` (no round trip) for a request naming none.
 * With its `claim`, a keyed request that finds no run claims its key until its start has
 * the upstream's answer: the same key sent again meanwhile waits for that run instead of
 * being admitted beside it. A caller that claims and then never starts (admission refused
 * it) calls {@link releaseClaim}.
 */
export async function namedRun(ctx: RequestContext, request: RunRequest): Promise<NamedRun | null> {
  if (request.idempotencyKey === undefined && request.resume === undefined) return null;
  const names = await retryNames(request);
  const at = { threadId: request.threadId, user: ctx.user, ...names };
  return runsOf(ctx, request.threadId).named(at, request.claim);
}

/**
 * Ends the claim {@link namedRun} took, if the request still holds it (after the
 * response): a start that was reached ended it already, and a newer claim is left alone.
 */
export function releaseClaim(ctx: RequestContext, request: RunRequest): void {
  const { claim } = request;
  if (request.idempotencyKey === undefined || claim === undefined) return;
  const at = { threadId: request.threadId, user: ctx.user };
  ctx.defer(
    retryNames(request).then((names) => runsOf(ctx, request.threadId).release({ ...at, ...names }, claim)),
  );
}

/**
 * The run {@link namedRun} found, attached to after its resume point (a conflict is the
 * 409); `null` when the run ended at or before that point (see {@link runFrames}).
 */
export async function attachNamed(
  ctx: RequestContext,
  threadId: string,
  named: NamedRun,
  pingMs: number,
): Promise<RunStream | null> {
  if (named.kind === 'conflict') throw conflict();
  const frames = await runFrames(ctx, threadId, named.runId, named.after, pingMs);
  return frames && { runId: named.runId, frames, attached: true };
}

/** The whole run {@link namedRun} found, from its first event (a result, a webhook's retry). */
export async function attachWhole(
  ctx: RequestContext,
  threadId: string,
  named: NamedRun,
): Promise<RunStream> {
  const whole = named.kind === 'run' ? { ...named, after: 0 } : named;
  const run = await attachNamed(ctx, threadId, whole, 0);
  // A run that ended has logged its final event, so one is always there after 0.
  if (run === null) throw resumeGone();
  return run;
}

const inProgress = (runId: string) =>
  new ApiError('RUN_IN_PROGRESS', `Run ${runId} of this thread is in progress.`);

const conflict = () =>
  new ApiError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with another message.');

/**
 * A retained run's frames after `after`, then live to its end; `null` when the run ended
 * at or before `after`: the caller has every event, the final one included, and is
 * answered `204` (an `EventSource` reconnecting after the final event stops there).
 */
export async function runFrames(
  ctx: RequestContext,
  threadId: string,
  runId: string,
  after: number,
  pingMs = ctx.config.stream.pingMs,
): Promise<ReadableStream<Uint8Array> | null> {
  const outcome = await runsOf(ctx, threadId).attach({ threadId, user: ctx.user }, runId, after, pingMs);
  if (outcome.kind === 'not_found') throw new ApiError('NOT_FOUND', 'Not found.');
  if (outcome.kind === 'gone') throw resumeGone();
  return outcome.kind === 'ended' ? null : outcome.stream;
}

const resumeGone = () => new ApiError('RESUME_GONE', 'The run’s events are no longer retained.');

/** A run read to its end (started or attached): its result, or its error as a contract error. */
export async function resultOf(ctx: RequestContext, threadId: string, run: RunStream): Promise<RunResult> {
  const outcome = await collectResult(ctx, threadId, run);
  if (outcome.ok) return outcome.result;
  throw runFailure(outcome.error.code);
}

/**
 * A run read to its end: its result, or the error event it ended with. The collector gives
 * up on a run that is still going when its result grows too large: that run is stopped
 * now, so its slot is free when the reader hears; else it would go on unread, for the
 * detach grace, or (a webhook run, which never detach-cancels) to its end.
 */
export async function collectResult(
  ctx: RequestContext,
  threadId: string,
  run: RunStream,
): ReturnType<typeof collectRun> {
  const outcome = await collectRun(run.runId, relayEventsOf(run.frames));
  if (!outcome.ok && outcome.error.code === 'RESULT_TOO_LARGE')
    await runsOf(ctx, threadId).cancel({ threadId, user: ctx.user }, run.runId);
  return outcome;
}

export async function listRuns(ctx: RequestContext, threadId: string): Promise<RunView[]> {
  return runsOf(ctx, threadId).list({ threadId, user: ctx.user });
}

export async function getRun(ctx: RequestContext, threadId: string, runId: string): Promise<RunView> {
  const run = await runsOf(ctx, threadId).get({ threadId, user: ctx.user }, runId);
  if (!run) throw new ApiError('NOT_FOUND', 'Not found.');
  return run;
}

export async function cancelRun(ctx: RequestContext, threadId: string, runId: string): Promise<RunView> {
  const run = await runsOf(ctx, threadId).cancel({ threadId, user: ctx.user }, runId);
  if (!run) throw new ApiError('NOT_FOUND', 'Not found.');
  return run;
}

/** The caller's running run on the thread, if any. */
export async function activeRun(ctx: RequestContext, threadId: string): Promise<string | null> {
  return runsOf(ctx, threadId).active({ threadId, user: ctx.user });
}
