import { DurableObject } from 'cloudflare:workers';
import { ratePolicies } from '../limits/policy';
import type { UsageEntry } from '../metering/metrics';
import { BlockList, type BlockRecord } from './block-list';
import { CHAT_SCHEMA, ChatBook } from './chat-book';
import { FILE_SCHEMA, FileBook } from './file-book';
import { LeaseBook } from './lease-book';
import { flushMs, MeterBook, type UsageQuery, type UsageRow } from './meter-book';
import { filePage, threadPage } from './pages';
import { type Acquire, type PermitOutcome, PermitPool, type Release } from './permit-pool';
import { RateBook, type RateLook } from './rate-book';
import { runBudgets, SPEND_SCHEMA, SpendBook, threadBudgets } from './spend-book';
import {
  type Admission,
  type AdmitRequest,
  type BudgetName,
  type FileRecord,
  type Limits,
  type SpendMark,
  TENANT_SCHEMA,
  type ThreadRecord,
  type Usage,
} from './tenant-schema';

export type * from './tenant-schema';

/** A reservation nobody committed or released within this long is released by the alarm. */
const RESERVATION_TTL_MS = 2 * 60_000;

/**
 * One object per tenant (`idFromName(tenant id)`), SQLite-backed: the tenant's rate
 * buckets (one per user and one for the tenant), which user owns which thread and
 * file, thread quota reservations and stream leases. One `admit` call answers all a
 * request needs, so the hot path costs one round trip; a single object per tenant
 * makes every decision exact across isolates and locations.
 */
export class TenantState extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Upstream permits this object leases from the governor (a few seconds; unused ones go back). */
  private readonly pool = new PermitPool();
  private readonly leases: LeaseBook;
  private readonly spend: SpendBook;
  private readonly chats: ChatBook;
  private readonly fileBook: FileBook;
  private readonly blocks: BlockList;
  private readonly meterBook: MeterBook;
  /** The alarm's time as last set (read once at start), so setting it needs no read. */
  private alarmAt: number | null = null;
  /** The rate buckets, in memory (see `RateBook`). */
  private readonly rates = new RateBook();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(TENANT_SCHEMA);
    this.sql.exec(SPEND_SCHEMA);
    this.sql.exec(CHAT_SCHEMA);
    this.sql.exec(FILE_SCHEMA);
    this.spend = new SpendBook(this.sql);
    this.chats = new ChatBook(this.sql);
    this.fileBook = new FileBook(this.sql);
    this.leases = new LeaseBook(ctx.storage);
    this.blocks = new BlockList(this.sql);
    this.meterBook = new MeterBook(ctx.storage, flushMs(env.METER_FLUSH_MS));
    void ctx.blockConcurrencyWhile(async () => {
      await this.leases.load();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * The gate every authenticated request passes, in an order that has no side effect
   * before a refusal it could still meet: a block by the operator, rate buckets, ownership, an upstream permit
   * (the only await: other calls may interleave there, so every count below is taken
   * after it), the chat's thread (or a reservation for it), thread and file quota, stream
   * lease, then the data the route wants.
   */
  async admit(request: AdmitRequest): Promise<Admission> {
    const { user, limits } = request;
    const now = Date.now();
    // A read lease takes as many tokens as it asked for and both buckets hold (at least one).
    const look = this.rates.look(
      ratePolicies(limits),
      request.tenantOnly ? undefined : user,
      now,
      request.reads?.want,
    );
    const { rate } = look;
    // A blocked user takes nothing, not even a token of the tenant's rate.
    if (this.blocks.has(user)) return { ok: false, reason: 'blocked', rate };
    if (look.refused) return { ok: false, ...look.refused, rate };
    this.rates.take(look);

    if (request.owns && !this.owns(user, request.owns.kind, request.owns.id)) {
      // A 404 costs one token (probing ids is not free), not a read lease's worth.
      this.rates.giveBack(look, look.n - 1);
      return { ok: false, reason: 'not_found', rate };
    }
    if (request.reads) return this.leaseReads(request, look);
    const permit = request.upstream ? await this.permit(request.tenant, request.upstream) : undefined;
    if (permit && !permit.ok)
      return { ok: false, reason: permit.reason, retryAfter: permit.retryAfter, rate };

    const at = Date.now();
    const refuse = (
      reason:
        | 'quota_user'
        | 'quota_total'
        | 'quota_files'
        | 'streams'
        | 'streams_user'
        | 'budget'
        | 'chat_busy',
      more: { retryAfter?: number; budget?: BudgetName } = {},
    ): Admission => {
      if (permit?.ok && permit.taken) this.pool.giveBack();
      return { ok: false, reason, rate, ...more };
    };
    // After the permit's await: another request may have bound the chat meanwhile.
    const chat = request.chat ? this.chats.find(user, request.chat.id, at) : undefined;
    if (chat?.state === 'creating' && request.chat?.open) return refuse('chat_busy');
    const reserveThread =
      request.reserveThread === true || (request.chat?.open === true && chat?.state === 'none');
    if (reserveThread) {
      if (this.countThreads(user) >= limits.threads_per_user) return refuse('quota_user');
      if (this.countThreads() >= limits.threads_total) return refuse('quota_total');
    }
    // Uploads in flight count: each may become a file.
    if (
      request.reserveFile &&
      this.fileBook.count(user) + this.fileBook.held(user) >= limits.files_per_user
    ) {
      return refuse('quota_files');
    }
    if (request.lease) {
      const { count, yours, next } = this.leases.active(at, user);
      const retryAfter = Math.min(30, Math.max(1, Math.ceil(((next ?? at) - at) / 1000)));
      if (count >= limits.concurrent_streams) return refuse('streams', { retryAfter });
      if (yours >= limits.streams_per_user) return refuse('streams_user', { retryAfter });
    }
    // Budgets count what was spent: checked last, so a refusal above spends none of them.
    const threadSpend = reserveThread ? threadBudgets(user, limits, at) : [];
    const runSpend = request.lease ? runBudgets(user, limits, at) : [];
    const spent = this.spend.check([...threadSpend, ...runSpend], at);
    if (!spent.ok) return refuse('budget', { retryAfter: spent.retryAfter, budget: spent.budget });

    const admission: Admission = { ok: true, rate };
    if (permit?.ok && permit.taken) admission.permit = true;
    if (reserveThread) {
      admission.reservation = this.reserve(user, at);
      admission.reservationSpend = this.spend.take(threadSpend);
      if (request.chat) this.chats.bind(user, request.chat.id, admission.reservation);
    }
    if (chat) admission.chatThread = chat.state === 'thread' ? chat.threadId : null;
    if (request.lease) {
      admission.lease = this.leases.take(user, at + request.lease.ttlMs);
      admission.leaseSpend = this.spend.take(runSpend);
    }
    if (request.reserveFile) admission.fileHold = this.fileBook.hold(user, at + request.reserveFile.ttlMs);
    if (admission.reservation || admission.lease || admission.fileHold) await this.scheduleCleanup();
    if (request.want === 'threads') admission.threads = threadPage(this.sql, user, request.page);
    if (request.want === 'files') admission.files = filePage(this.sql, user, request.page);
    if (request.want === 'usage') admission.usage = this.usage(user, limits, at);
    return admission;
  }

  /**
   * Turns a reservation into the thread the upstream created. Should the reservation
   * have been swept meanwhile (a create slower than its deadline), the thread is still
   * recorded as the user's: it exists and was paid for, so it must not become an orphan.
   *
   * An id this object already records (an upstream that reissued it, e.g. after its own
   * state was reset) is the same thread again for the same user: the reservation goes
   * and `committed` is answered. For another user it is `taken`: nothing changes, the
   * reservation is left for the caller to give back, and the caller must refuse.
   */
  async commitThread(
    user: string,
    reservation: string,
    thread: ThreadRecord,
  ): Promise<'committed' | 'taken'> {
    const holder = this.sql
      .exec<{ user: string }>('SELECT user FROM threads WHERE thread_id = ?', thread.thread_id)
      .toArray()[0];
    if (holder !== undefined && holder.user !== user) return 'taken';
    if (holder !== undefined) {
      this.sql.exec(
        'DELETE FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NOT NULL',
        reservation,
        user,
      );
      this.chats.commit(user, reservation, thread.thread_id);
      return 'committed';
    }
    const updated = this.sql.exec(
      `UPDATE threads SET thread_id = ?, name = ?, assistant_id = ?, created_at = ?, reserved_until = NULL
       WHERE thread_id = ? AND user = ?`,
      thread.thread_id,
      thread.name,
      thread.assistant_id,
      thread.created_at,
      reservation,
      user,
    ).rowsWritten;
    // A chat bound to the reservation now names the thread (also when the row was swept).
    this.chats.commit(user, reservation, thread.thread_id);
    if (updated === 0) {
      this.sql.exec(
        'INSERT INTO threads (thread_id, user, name, assistant_id, created_at) VALUES (?, ?, ?, ?, ?)',
        thread.thread_id,
        user,
        thread.name,
        thread.assistant_id,
        thread.created_at,
      );
    }
    return 'committed';
  }

  /**
   * Gives a reservation back (the create failed or was refused), and with `refund` the
   * budget units it took (only when the upstream refused: a create that may have
   * happened stays spent).
   */
  async releaseThread(user: string, reservation: string, refund: SpendMark[] = []): Promise<void> {
    this.sql.exec(
      'DELETE FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NOT NULL',
      reservation,
      user,
    );
    this.chats.forget(user, reservation);
    this.spend.refund(refund);
  }

  /** Forgets a deleted thread, freeing its quota. */
  async removeThread(user: string, threadId: string): Promise<void> {
    this.sql.exec(
      'DELETE FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NULL',
      threadId,
      user,
    );
    this.chats.forget(user, threadId);
  }

  /** Turns an upload's hold into the file the upstream stored. */
  async commitFile(user: string, hold: string, file: FileRecord): Promise<void> {
    this.fileBook.commit(user, hold, file);
  }

  /** Gives an upload's hold back (the upload failed or was refused). */
  async releaseFile(user: string, hold: string): Promise<void> {
    this.fileBook.release(user, hold);
  }

  /** Forgets a deleted file, freeing its slot. */
  async removeFile(user: string, fileId: string): Promise<void> {
    this.fileBook.remove(user, fileId);
  }

  /** Returns an upstream permit the request never used (it failed before calling out). */
  async refundPermit(): Promise<void> {
    this.pool.giveBack();
  }

  /** Gives a stream slot back (the run ended, however it ended), with `refund` as above. */
  async releaseLease(leaseId: string, refund: SpendMark[] = []): Promise<void> {
    this.leases.release(leaseId);
    this.spend.refund(refund);
  }

  /** Blocks an end user (admin API): every request of theirs is refused from now on. */
  async block(user: string): Promise<boolean> {
    return this.blocks.block(user);
  }

  /** Lets a blocked end user back in. */
  async unblock(user: string): Promise<boolean> {
    return this.blocks.unblock(user);
  }

  /** The blocked end users. */
  async blocked(): Promise<BlockRecord[]> {
    return this.blocks.list();
  }

  /** Adds metered counts; resolves once they are written (objects/meter-book.ts). */
  async meter(entries: UsageEntry[]): Promise<void> {
    return this.meterBook.add(entries);
  }

  /** The written usage in `query`'s day range. */
  async meteredUsage(query: UsageQuery): Promise<UsageRow[]> {
    return this.meterBook.read(query);
  }

  /**
   * Releases what a vanished Worker left behind: thread reservations and upload holds
   * it never committed or released, and stream leases it never released.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec('DELETE FROM threads WHERE reserved_until IS NOT NULL AND reserved_until <= ?', now);
    this.fileBook.prune(now);
    this.leases.prune(now);
    this.alarmAt = null; // this alarm has fired
    await this.scheduleCleanup();
  }

  /** Sets the alarm for the earliest reservation, hold or lease expiry (or clears it). */
  private async scheduleCleanup(): Promise<void> {
    const { reservations } = this.sql
      .exec<{ reservations: number | null }>(
        'SELECT MIN(reserved_until) AS reservations FROM threads WHERE reserved_until IS NOT NULL',
      )
      .one();
    const expiries = [reservations, this.fileBook.nextExpiry(), this.leases.nextExpiry()];
    const pending = expiries.filter((at) => at !== null);
    const next = pending.length === 0 ? null : Math.min(...pending);
    if (next === null) {
      if (this.alarmAt !== null) await this.ctx.storage.deleteAlarm({ allowUnconfirmed: true });
      this.alarmAt = null;
    } else if (this.alarmAt === null || this.alarmAt > next) {
      await this.ctx.storage.setAlarm(next, { allowUnconfirmed: true });
      this.alarmAt = next;
    }
  }

  /**
   * One upstream permit from the pool, leased from the account's governor in batches;
   * the pool gives back what a lease did not use.
   */
  private permit(tenant: string, upstream: NonNullable<AdmitRequest['upstream']>): Promise<PermitOutcome> {
    const { acquire, release } = this.governor(tenant, upstream);
    return this.pool.take(upstream.costly, acquire, release);
  }

  /** The governor's calls for the pool's refills, for this tenant's upstream account. */
  private governor(
    tenant: string,
    upstream: NonNullable<AdmitRequest['upstream']>,
  ): { acquire: Acquire; release: Release } {
    const stub = () => this.env.GOVERNOR.getByName(upstream.account);
    return {
      acquire: (want, returned) => stub().acquire(tenant, want, upstream.seen, returned),
      release: (returned) => stub().release(tenant, returned),
    };
  }

  /**
   * The rest of a read lease, after its `n` tokens were taken: as many upstream permits
   * (fewer when the pool holds fewer: the tokens without one go back), none when the
   * governor does not answer (reads go ahead, as any read does then).
   */
  private async leaseReads(request: AdmitRequest, look: RateLook): Promise<Admission> {
    const { n, rate } = look;
    let permits = 0;
    if (request.upstream) {
      const { acquire, release } = this.governor(request.tenant, request.upstream);
      const got = await this.pool.takeUpTo(n, acquire, release);
      if (!got.ok) return { ok: false, reason: got.reason, retryAfter: got.retryAfter, rate };
      permits = got.count;
    }
    const granted = permits > 0 ? permits : n;
    this.rates.giveBack(look, n - granted);
    return { ok: true, rate, reads: { granted, permits } };
  }

  private usage(user: string, limits: Limits, now: number): Usage {
    const streams = this.leases.active(now, user);
    return {
      threads: this.countThreads(user),
      threads_total: this.countThreads(),
      files: this.fileBook.count(user),
      files_held: this.fileBook.held(user),
      streams: streams.count,
      streams_yours: streams.yours,
      budgets: this.spend.states(
        [...threadBudgets(user, limits, now), ...runBudgets(user, limits, now)],
        now,
      ),
    };
  }

  private owns(user: string, kind: 'thread' | 'file', id: string): boolean {
    const query =
      kind === 'thread'
        ? 'SELECT 1 AS hit FROM threads WHERE thread_id = ? AND user = ? AND reserved_until IS NULL'
        : 'SELECT 1 AS hit FROM files WHERE file_id = ? AND user = ?';
    return this.sql.exec(query, id, user).toArray().length > 0;
  }

  private countThreads(user?: string): number {
    const cursor =
      user === undefined
        ? this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads')
        : this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM threads WHERE user = ?', user);
    return cursor.one().n;
  }

  private reserve(user: string, now: number): string {
    const reservation = `rsv_${crypto.randomUUID()}`;
    this.sql.exec(
      'INSERT INTO threads (thread_id, user, created_at, reserved_until) VALUES (?, ?, ?, ?)',
      reservation,
      user,
      new Date(now).toISOString(),
      now + RESERVATION_TTL_MS,
    );
    return reservation;
  }
}
