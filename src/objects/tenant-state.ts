import { DurableObject } from 'cloudflare:workers';
import { ratePolicies } from '../limits/policy';
import { MAX_READ_BATCH } from '../limits/read-leases';
import type { UsageEntry } from '../metering/metrics';
import { BlockList, type BlockRecord } from './block-list';
import { CHAT_SCHEMA, ChatBook } from './chat-book';
import { FILE_SCHEMA, FileBook } from './file-book';
import { type Books, refusedBeforePermit, takeHolds, usageOf } from './holds';
import { bindingTtlMs, KeyBook, RUN_KEY_SCHEMA } from './key-book';
import { LeaseBook } from './lease-book';
import { flushMs, MeterBook, type UsageQuery, type UsageRow } from './meter-book';
import { filePage, threadPage } from './pages';
import { type PermitOutcome, PermitPool } from './permit-pool';
import { RateBook } from './rate-book';
import { governorCalls, leaseReads } from './read-grant';
import { SPEND_SCHEMA, SpendBook } from './spend-book';
import {
  type Admission,
  type AdmitRequest,
  type FileRecord,
  type SpendMark,
  TENANT_SCHEMA,
  type ThreadRecord,
} from './tenant-schema';
import { ThreadBook } from './thread-book';

export type * from './tenant-schema';

/**
 * One object per tenant incarnation (named by its scope, `scopeOf` in tenant.ts),
 * SQLite-backed: the tenant's rate buckets (one per user and one for the tenant), which
 * user owns which thread and file, thread quota reservations and stream leases. One
 * `admit` call answers all a request needs, so the hot path costs one round trip; a single
 * object per tenant makes every decision exact across isolates and locations.
 */
export class TenantState extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Upstream permits this object leases from the governor (a few seconds; unused ones go back). */
  private readonly pool = new PermitPool();
  /** Threads, files, stream leases, budgets, chats and run keys: what admissions hold (see `takeHolds`). */
  private readonly books: Books;
  private readonly blocks: BlockList;
  private readonly meterBook: MeterBook;
  /** The alarm's time as last set (read once at start), so setting it needs no read. */
  private alarmAt: number | null = null;
  /** The rate buckets, in memory (see `RateBook`). */
  private readonly rates = new RateBook();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const schema of [TENANT_SCHEMA, SPEND_SCHEMA, CHAT_SCHEMA, FILE_SCHEMA, RUN_KEY_SCHEMA])
      this.sql.exec(schema);
    this.books = {
      threads: new ThreadBook(this.sql),
      files: new FileBook(this.sql),
      leases: new LeaseBook(ctx.storage),
      spend: new SpendBook(this.sql),
      chats: new ChatBook(this.sql),
      keys: new KeyBook(this.sql, bindingTtlMs(env.UPSTREAM_TIMEOUT_MS)),
    };
    this.blocks = new BlockList(this.sql);
    this.meterBook = new MeterBook(ctx.storage, flushMs(env.METER_FLUSH_MS));
    void ctx.blockConcurrencyWhile(async () => {
      await this.books.leases.load();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * The gate every authenticated request passes, in an order that has no side effect
   * before a refusal it could still meet: a block by the operator, rate buckets, ownership,
   * a run's key bound to another thread or its thread's assistant no longer offered, an
   * upstream permit (the only await: other calls may interleave there, so every count below
   * is taken after it, and those two are asked again), the chat's thread (or a reservation
   * for it), thread and file quota, stream lease, then the data the route wants.
   */
  async admit(request: AdmitRequest): Promise<Admission> {
    const { user, limits } = request;
    const now = Date.now();
    // An expired read lease's leftovers come back before anything is looked at.
    const returned = request.reads?.returned;
    if (returned) this.rates.refund(user, Math.min(returned.tokens, MAX_READ_BATCH));
    const { window } = returned ?? {};
    if (returned && window)
      this.pool.giveBackLent({ window, count: Math.min(returned.permits, MAX_READ_BATCH) });
    // One token, the caller's (a read lease takes the rest once its permits are known).
    const policies = ratePolicies(limits);
    const blocked = this.blocks.has(user);
    const who = request.tenantOnly ? undefined : user;
    const first = this.rates.first(policies, who, now, blocked, request.ratePaid === true);
    if (!first.ok) return first;
    const { rate } = first.look;

    // A 404 costs one token: probing ids is not free.
    if (request.owns && !this.owns(user, request.owns.kind, request.owns.id)) {
      return { ok: false, reason: 'not_found', rate };
    }
    if (request.reads) {
      const calls = request.upstream && governorCalls(this.env, request.tenant, request.upstream);
      return leaseReads(this.pool, this.rates, { ...request, reads: request.reads }, policies, rate, calls);
    }
    // A refusal no permit could lift comes before the permit's await, and takes none.
    const certain = refusedBeforePermit(this.books, request, now);
    if (certain) return { ok: false, reason: certain, rate };
    const permit = request.upstream ? await this.permit(request.tenant, request.upstream) : undefined;
    if (permit && !permit.ok)
      return { ok: false, reason: permit.reason, retryAfter: permit.retryAfter, rate };

    // After the permit's await: another request may have bound the chat meanwhile.
    const at = Date.now();
    const held = takeHolds(this.books, request, at);
    if (!held.ok) {
      if (permit?.ok && permit.taken) this.pool.giveBack();
      return { ...held, rate };
    }
    const admission: Admission = { ok: true, rate, ...held.holds };
    if (permit?.ok && permit.taken) admission.permit = true;
    // A run's lease comes with its key's binding, if any: both have an expiry to clean up at.
    if (admission.reservation || admission.lease || admission.fileHold) await this.scheduleCleanup();
    if (request.want === 'threads') admission.threads = threadPage(this.sql, user, request.page);
    if (request.want === 'files') admission.files = filePage(this.sql, user, request.page);
    if (request.want === 'usage') admission.usage = usageOf(this.books, user, limits, at);
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
    const outcome = this.books.threads.commit(user, reservation, thread);
    // A chat bound to the reservation now names the thread (also when the row was swept).
    if (outcome === 'committed') this.books.chats.commit(user, reservation, thread.thread_id);
    return outcome;
  }

  /**
   * Gives a reservation back (the create failed or was refused), and with `refund` the
   * budget units it took (only when the upstream refused: a create that may have
   * happened stays spent).
   */
  async releaseThread(user: string, reservation: string, refund: SpendMark[] = []): Promise<void> {
    this.books.threads.release(user, reservation);
    this.books.chats.forget(user, reservation);
    this.books.spend.refund(refund);
  }

  /**
   * Forgets a deleted thread, freeing its quota. Whether this call removed it: false when
   * another delete of the same thread (the user's, a second purge) got there first, so
   * only one of them counts it.
   */
  async removeThread(user: string, threadId: string): Promise<boolean> {
    const removed = this.books.threads.remove(user, threadId);
    this.books.chats.forget(user, threadId);
    return removed;
  }

  /**
   * The newest `limit` of the user's threads, with no admission: the operator deleting a
   * user's threads (admin API), blocked or not.
   */
  async threadsOf(user: string, limit: number): Promise<string[]> {
    return threadPage(this.sql, user, { limit }).items.map((thread) => thread.thread_id);
  }

  /** How many threads the user holds (reservations too), with no admission: what a purge left. */
  async threadsHeld(user: string): Promise<number> {
    return this.books.threads.count(user);
  }

  /** Turns an upload's hold into the file the upstream stored. */
  async commitFile(user: string, hold: string, file: FileRecord): Promise<void> {
    this.books.files.commit(user, hold, file);
  }

  /** Gives an upload's hold back (the upload failed or was refused). */
  async releaseFile(user: string, hold: string): Promise<void> {
    this.books.files.release(user, hold);
  }

  /** Forgets a deleted file, freeing its slot. */
  async removeFile(user: string, fileId: string): Promise<void> {
    this.books.files.remove(user, fileId);
  }

  /** Returns an upstream permit the request never used (it failed before calling out). */
  async refundPermit(): Promise<void> {
    this.pool.giveBack();
  }

  /** Gives a stream slot back (the run ended), with `refund` as above and the run's counts (`usage`, as `meter`). */
  async releaseLease(leaseId: string, refund: SpendMark[] = [], usage: UsageEntry[] = []): Promise<void> {
    // Refunded once, with the release that freed the slot: a release sent twice gives back one unit.
    if (this.books.leases.release(leaseId)) this.books.spend.refund(refund);
    if (usage.length > 0) await this.meterBook.add(usage);
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
   * it never committed or released, and stream leases it never released; and deletes run
   * keys past their 24 h.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.books.threads.prune(now);
    this.books.files.prune(now);
    this.books.leases.prune(now);
    this.books.keys.prune(now);
    this.alarmAt = null; // this alarm has fired
    await this.scheduleCleanup();
  }

  /** Sets the alarm for the earliest reservation, hold, lease or run key expiry (or clears it). */
  private async scheduleCleanup(): Promise<void> {
    const expiries = [
      this.books.threads.nextExpiry(),
      this.books.files.nextExpiry(),
      this.books.leases.nextExpiry(),
      this.books.keys.nextExpiry(),
    ];
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
    const { acquire, release } = governorCalls(this.env, tenant, upstream);
    return this.pool.take(upstream.costly, acquire, release);
  }

  private owns(user: string, kind: 'thread' | 'file', id: string): boolean {
    return kind === 'thread' ? this.books.threads.owns(user, id) : this.books.files.owns(user, id);
  }
}
