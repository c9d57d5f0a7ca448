import { DurableObject } from 'cloudflare:workers';
import { log } from '../log';
import { Claims } from '../runs/claims';
import { Connection, isFinal } from '../runs/connection';
import { endRun, newRun, recoverLost } from '../runs/lifecycle';
import { type LiveRun, liveRun } from '../runs/live';
import { IDEMPOTENCY_TTL_MS, idempotencyKey, RunLog, type RunRow, view } from '../runs/log';
import { pumpRun } from '../runs/pump';
import type {
  AttachOutcome,
  NamedRun,
  RetryNames,
  RunAddress,
  RunView,
  StartOutcome,
  StartRun,
} from '../runs/schema';
import { Starters } from '../runs/starters';
import { HEADER_GRACE_MS, openUpstream, refusal, refusedAs } from '../runs/upstream';
import { Wakeups } from '../runs/wakeups';
import { type RelayEvent, runError } from '../stream/events';
import { createUpstream } from '../upstream/factory';

/**
 * One object per shard of a tenant's threads (`<scope>:runs:<shard>`, see `runShard`):
 * their runs. A run belongs to this object, not to the request that started it: the
 * object opens the upstream stream, parses it with the relay (timeouts, size cap,
 * tool-call policy), logs every event in its SQLite storage and fans it out to every
 * attached caller. A caller may leave and come back (`Last-Event-ID`); the run's stream
 * slot is released here, whatever ended the run, within a second of its end. One run at a
 * time per thread; every call names its thread and user, and sees only their runs.
 */
export class ThreadRuns extends DurableObject<Env> {
  private readonly log: RunLog;
  private readonly live = new Map<string, LiveRun>();
  private readonly wakeups: Wakeups;
  private readonly claims = new Claims();
  private readonly starters = new Starters();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.log = new RunLog(ctx.storage.sql);
    this.wakeups = new Wakeups(ctx.storage, this.log);
    void ctx.blockConcurrencyWhile(async () => {
      await this.wakeups.load();
      await recoverLost(this.env, this.log, this.wakeups);
    });
  }

  /**
   * Starts a run, or attaches to the one an idempotency key or a resume point names. The
   * request's claim on its key lasts until the upstream answered: a twin waiting on it then
   * attaches to a run that began, or, the upstream having refused it, is admitted itself.
   */
  async start(input: StartRun): Promise<StartOutcome> {
    this.claims.hold(input, input.claim);
    try {
      return await this.begin(input);
    } finally {
      this.claims.settle(input, input.claim);
      this.starters.answered(input, input.starter);
    }
  }

  private async begin(input: StartRun): Promise<StartOutcome> {
    const now = Date.now();
    // A retry that raced its first request past the Worker's `named` question.
    const named = this.log.named(input, now);
    if (named) return named.kind === 'conflict' ? named : this.reattach(named.runId, input, named.after);
    const key = input.idempotency && idempotencyKey(input.threadId, input.idempotency.key);
    const running = this.log.running(input.threadId);
    if (running) return { kind: 'busy', runId: running.run_id };

    const { config } = input;
    const runId = `run_${crypto.randomUUID().replaceAll('-', '')}`;
    const row = newRun(runId, input, now);
    // Written before the first await: a concurrent start sees this run and is told busy.
    this.log.create(row);
    if (key !== undefined && input.idempotency) {
      this.log.remember(input.user, key, input.idempotency.bodyHash, runId, now);
      this.wakeups.due(now + IDEMPOTENCY_TTL_MS);
    }
    const live = liveRun(row, input, this.log);
    this.live.set(runId, live);
    const connection = this.join(live, input.pingMs);
    this.starters.joined(input, input.starter, () => {
      connection.close();
      this.leave(live, connection);
    });
    // The run's row, its idempotency key and the wake-up alarm are written in this one
    // turn: one commit, which the upstream request waits for (a run is never started
    // upstream before it is recorded), and nothing after it on the way to the first event.
    const alarmed = this.keepAlive();
    alarmed.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile

    const defer = (promise: Promise<unknown>) => this.ctx.waitUntil(promise.catch(() => undefined));
    const ctx = {
      upstream: createUpstream(this.env, config.upstream, input.requestId, defer),
      tenant: input.tenant,
      config,
    };
    live.upstream = ctx.upstream;
    const grace =
      input.pingMs > 0 ? Math.min(HEADER_GRACE_MS, input.pingMs) : config.stream.firstByteTimeoutMs;
    const opened = await openUpstream(ctx, input.threadId, input.message, live.abort.signal, grace);
    // Cancelled meanwhile (its thread deleted): it ended as cancelled, slot back, and says so.
    if (live.finished) {
      if (opened.ok)
        void Promise.resolve(opened.body).then(
          (body) => body.cancel(),
          () => undefined,
        );
      await alarmed;
      return { kind: 'started', runId, stream: connection.stream };
    }
    if (!opened.ok) {
      // Refused before it began: no run happened, and the caller's admission gives the slot back.
      // A retry that attached meanwhile (one that claimed nothing) hears the run end.
      this.live.delete(runId);
      live.finished = true; // never began: a starter's connection dropped later starts no grace
      clearTimeout(live.grace); // nor keeps one a starter dropped during the open began
      const ended = { n: 1, event: runError(refusedAs(opened.error)) };
      for (const attached of live.connections) attached.send(ended);
      this.log.forget(runId, input.user, key);
      await alarmed;
      return refusal(opened.error, input.requestId, ctx.upstream.mayHaveSpent);
    }
    this.ctx.waitUntil(pumpRun(live, opened.body, config, (event) => this.emit(live, event)));
    await alarmed;
    return { kind: 'started', runId, stream: connection.stream };
  }

  /**
   * The retained run of `at.user` on `at.threadId` a retry names, if any: asked before
   * admission, so that attaching to it takes no stream slot and spends no budget. With a
   * `claim` token, a request that will start the run if none is named: a twin sent with the
   * same key meanwhile waits for this one's start (see `Claims`), or its {@link release}.
   */
  async named(at: RunAddress & RetryNames, claim?: string): Promise<NamedRun | null> {
    return this.claims.named(at, claim, () => this.log.named(at, Date.now()));
  }

  /** The claim `named` took for `at`'s key ends without a start (admission refused it). */
  async release(at: RunAddress & RetryNames, claim: string): Promise<void> {
    this.claims.settle(at, claim);
  }

  /**
   * The caller of the start sent with `starter` hung up before it had its answer (the
   * upstream still opening): that connection is dropped, so the run detaches.
   */
  async left(at: RunAddress, starter: string): Promise<void> {
    this.starters.left(at, starter);
  }

  /** The events of a run after `after`, then live to its end. */
  async attach(at: RunAddress, runId: string, after: number, pingMs: number): Promise<AttachOutcome> {
    const live = this.live.get(runId);
    // What was relayed so far is in the log before it is replayed.
    live?.batch.flush();
    const row = this.owned(at, runId);
    if (!row) return { kind: 'not_found' };
    const replay = this.log.replay(row, after);
    if (!replay) return { kind: 'gone' };
    if (!live && after > 0 && after >= row.events) return { kind: 'ended' };
    // A finished run's replay closes after its final event; a live run's goes on.
    const connection = live ? this.join(live, pingMs, after) : new Connection(runId, 0, () => undefined);
    for (const logged of replay) connection.send(logged);
    if (!live) connection.close();
    return { kind: 'attached', stream: connection.stream };
  }

  /** Cancels a running run of `user`: the upstream is aborted, attached callers get `RUN_CANCELLED`. */
  async cancel(at: RunAddress, runId: string): Promise<RunView | null> {
    const row = this.owned(at, runId);
    if (!row) return null;
    const live = this.live.get(runId);
    if (live) await this.emit(live, runError('RUN_CANCELLED'));
    return view(this.log.get(runId) ?? row);
  }

  /** Cancels the thread's running run of `at.user` (with `detachedOnly`, if no caller is attached): `true` once it ended. */
  async cancelRunning(at: RunAddress, detachedOnly: boolean): Promise<boolean> {
    const row = this.log.running(at.threadId);
    const live = row && row.user === at.user ? this.live.get(row.run_id) : undefined;
    // A webhook run is read by nobody and never detach-cancels: only an explicit cancel ends it.
    if (!live || (detachedOnly && (live.connections.size > 0 || !live.input.detachCancels))) return false;
    await this.emit(live, runError('RUN_CANCELLED'));
    return true;
  }

  /** Cancels every running run of `user` here (the operator blocked them): how many. */
  async cancelAllOf(user: string): Promise<number> {
    const theirs = [...this.live.values()].filter((live) => live.row.user === user);
    for (const live of theirs) await this.emit(live, runError('RUN_CANCELLED'));
    return theirs.length;
  }

  async get(at: RunAddress, runId: string): Promise<RunView | null> {
    const row = this.owned(at, runId);
    return row ? view(row) : null;
  }

  async list(at: RunAddress): Promise<RunView[]> {
    return this.log.list(at.user, at.threadId).map(view);
  }

  /** The thread's running run of `user`, if any (the chat protocol's resume). */
  async active(at: RunAddress): Promise<string | null> {
    const row = this.log.running(at.threadId);
    return row && row.user === at.user ? row.run_id : null;
  }

  /** The run, if it is `at.user`'s on `at.threadId` (another thread's run is not found here). */
  private owned(at: RunAddress, runId: string): RunRow | undefined {
    const row = this.log.get(runId);
    return row && row.user === at.user && row.thread_id === at.threadId ? row : undefined;
  }

  override async alarm(): Promise<void> {
    this.wakeups.fired();
    await this.keepAlive();
  }

  private join(live: LiveRun, pingMs: number, after = 0): Connection {
    const connection = new Connection(live.row.run_id, pingMs, (left) => this.leave(live, left), after);
    live.connections.add(connection);
    clearTimeout(live.grace);
    live.grace = null;
    return connection;
  }

  private async reattach(runId: string, input: StartRun, after: number): Promise<StartOutcome> {
    const attached = await this.attach(input, runId, after, input.pingMs);
    if (attached.kind === 'attached') return { kind: 'attached', runId, stream: attached.stream };
    const detail = 'The run’s events are no longer retained.';
    return { kind: 'refused', code: attached.kind === 'gone' ? 'RESUME_GONE' : 'NOT_FOUND', detail };
  }

  /** The last caller left: the run waits `RUN_DETACH_GRACE_MS` for one to come back, then stops. */
  private leave(live: LiveRun, connection: Connection): void {
    if (!live.connections.delete(connection)) return; // dropped already (see `Starters`)
    if (live.finished || live.connections.size > 0 || !live.input.detachCancels) return;
    live.grace = setTimeout(() => {
      if (live.connections.size === 0 && !live.finished) {
        log('info', 'run detached: nobody came back, cancelled', { run_id: live.row.run_id });
        void this.emit(live, runError('RUN_CANCELLED'));
      }
    }, live.input.config.runs.detachGraceMs);
  }

  /**
   * Sends one event to every attached caller and queues it for the log (written in
   * batches, see `LogBatch`); the final one is logged at once and ends the run.
   */
  private async emit(live: LiveRun, relayed: RelayEvent): Promise<void> {
    if (live.finished) return;
    // One start, first, with the gateway's run id (never the upstream's), whether the upstream
    // sent none or several; a run that fails before anything began says only its error.
    if (relayed.type === 'start' && live.row.events > 0) return;
    if (relayed.type !== 'start' && relayed.type !== 'error' && live.row.events === 0)
      await this.emit(live, { type: 'start', run_id: '' });
    const event: RelayEvent = relayed.type === 'start' ? { type: 'start', run_id: live.row.run_id } : relayed;
    const logged = { n: live.row.events + 1, event };
    live.row.events = logged.n;
    live.batch.add(logged);
    for (const connection of live.connections) connection.send(logged);
    if (isFinal(event)) await this.finish(live, event);
  }

  private async finish(live: LiveRun, event: RelayEvent): Promise<void> {
    live.finished = true;
    // In the same turn as the final frame: it reaches callers once the log holding it is committed.
    live.batch.flush();
    clearTimeout(live.grace);
    live.abort.abort(new DOMException('The run ended.', 'AbortError'));
    const error = event.type === 'error' ? event : undefined;
    const status = error === undefined ? 'done' : error.code === 'RUN_CANCELLED' ? 'cancelled' : 'error';
    const at = Date.now();
    this.log.finish(live.row, status, at, live.input.config.runs.retentionMs, error);
    this.wakeups.due(at + live.input.config.runs.retentionMs);
    this.live.delete(live.row.run_id);
    // Refused by the upstream after the header grace (its stream had begun): its unit goes back.
    const refund = live.upstream.mayHaveSpent ? [] : live.input.spend;
    await endRun(this.env, live.row, status, live.upstream.upstreamCalls, refund);
    await this.keepAlive();
  }

  private keepAlive(): Promise<void> {
    return this.wakeups.keepAlive(this.live.size > 0);
  }
}
