import { errorName, log } from '../log';
import { type Counts, isMetric, type UsageEntry, utcDay } from './metrics';

/** What takes a tally's counts: the tenant's state object (objects/tenant-state.ts `meter`). */
export interface MeterSink {
  meter(entries: UsageEntry[]): Promise<unknown>;
}

/** Where a tally's counts go: the tenant's state object (a fresh stub for the one retry). */
export interface TallyTarget {
  /** The tenant's scope (tenant.ts `scopeOf`): the outbox keeps one sender per scope. */
  tenant: string;
  user: string;
  requestId: string;
  stub: () => MeterSink;
  /** A request's counts: sent with the isolate's other requests' to this tenant (see {@link UsageTally.ship}). */
  coalesce?: boolean;
}

/**
 * The metered counts of one request (or background job), by UTC day, not yet sent.
 * Counting is a few additions in memory; the counts leave in one RPC when the request
 * ends ({@link UsageTally.ship}, after the response, `waitUntil`), and the tenant's state
 * object writes them behind (objects/meter-book.ts). No response waits on any of it.
 */
export class UsageTally {
  readonly #target: TallyTarget;
  #days = new Map<string, Counts>();

  constructor(target: TallyTarget) {
    this.#target = target;
  }

  /** Adds `counts` to the day of `at` (default: now). */
  add(counts: Counts, at: number = Date.now()): void {
    const day = utcDay(at);
    const tally = this.#days.get(day) ?? {};
    for (const [metric, n] of Object.entries(counts)) {
      if (n === undefined || n === 0) continue;
      if (isMetric(metric)) tally[metric] = (tally[metric] ?? 0) + n;
    }
    this.#days.set(day, tally);
  }

  /**
   * Sends what was counted so far and starts afresh; never throws. Resolves once the
   * tenant's state has written it; `undefined` when nothing was counted or, for a tally
   * made with `coalesce` (a request's), when its counts were handed to the isolate's
   * delivery to that tenant already in flight ({@link Outbox}): under load one call
   * carries many requests' counts.
   */
  ship(): Promise<void> | undefined {
    const entries: UsageEntry[] = [];
    for (const [day, counts] of this.#days) {
      if (Object.keys(counts).length > 0) entries.push({ day, user: this.#target.user, counts });
    }
    this.#days = new Map();
    if (entries.length === 0) return undefined;
    return this.#target.coalesce ? outbox.send(this.#target, entries) : deliver(this.#target, entries);
  }
}

/**
 * Sends `entries` to the tenant's state; a call lost to an object reset is sent once more
 * on a fresh stub, and counts that still cannot be delivered are logged (summed, without
 * the user), never dropped in silence. Never throws.
 */
async function deliver(target: TallyTarget, entries: UsageEntry[]): Promise<void> {
  const { tenant, requestId, stub } = target;
  let failure: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await stub().meter(entries);
      return;
    } catch (error) {
      failure = error;
      // Only a reset object (its counts never written) is worth a second try.
      if (Reflect.get(Object(error), 'retryable') !== true) break;
    }
  }
  log('error', 'usage not recorded', {
    request_id: requestId,
    tenant,
    error: errorName(failure),
    counts: JSON.stringify(entries.map((entry) => ({ day: entry.day, ...entry.counts }))),
  });
}

/** A sender hands its tenant's deliveries on after this long (its `waitUntil` has 30 s). */
const HANDOFF_MS = 5_000;
/** A sender silent this long is taken for gone (its request was cut off) and replaced. */
const STALE_MS = 15_000;

/**
 * An isolate's deliveries of request counts, one sender per tenant. The request that
 * finds no delivery in flight sends its counts itself; requests that end meanwhile leave
 * theirs here and are done, and the sender sends them (merged) when its call returns,
 * until nothing waits or it has sent for {@link HANDOFF_MS}; the next request then sends.
 * A waiting request holds no promise of the sender's: workerd cancels a request that
 * waits on another request's work as hung. So its counts are in memory, not written,
 * when its `waitUntil` ends; an isolate that dies meanwhile loses them, as the tenant's
 * object loses what it had not yet written behind (README "Usage metering").
 */
class Outbox {
  readonly #waiting = new Map<string, UsageEntry[]>();
  readonly #senders = new Map<string, { since: number }>();

  /** `undefined`: left for the sender in flight; else this request sends (a promise to keep alive). */
  send(target: TallyTarget, entries: UsageEntry[]): Promise<void> | undefined {
    const sender = this.#senders.get(target.tenant);
    if (sender !== undefined && Date.now() - sender.since < STALE_MS) {
      const waiting = this.#waiting.get(target.tenant) ?? [];
      waiting.push(...entries);
      this.#waiting.set(target.tenant, waiting);
      return undefined;
    }
    return this.#run(target, entries);
  }

  async #run(target: TallyTarget, first: UsageEntry[]): Promise<void> {
    const me = { since: Date.now() };
    const started = me.since;
    this.#senders.set(target.tenant, me);
    try {
      await deliver(target, first);
      for (;;) {
        if (this.#senders.get(target.tenant) !== me) return; // replaced: another request sends
        const waiting = this.#waiting.get(target.tenant);
        if (!waiting) return;
        this.#waiting.delete(target.tenant);
        const last = Date.now() - started >= HANDOFF_MS;
        // The last round gives up the sender's place first: counts that arrive meanwhile go
        // with the request that brings them.
        if (last) this.#senders.delete(target.tenant);
        else me.since = Date.now();
        await deliver(target, merged(waiting));
        if (last) return;
      }
    } finally {
      if (this.#senders.get(target.tenant) === me) this.#senders.delete(target.tenant);
    }
  }
}

const outbox = new Outbox();

/** Entries of one day and user summed into one. */
function merged(entries: UsageEntry[]): UsageEntry[] {
  const byKey = new Map<string, UsageEntry>();
  for (const entry of entries) {
    const key = `${entry.day}\u0000${entry.user}`;
    const into = byKey.get(key);
    if (!into) {
      byKey.set(key, { day: entry.day, user: entry.user, counts: { ...entry.counts } });
      continue;
    }
    for (const [metric, n] of Object.entries(entry.counts)) {
      if (isMetric(metric) && n !== undefined) into.counts[metric] = (into.counts[metric] ?? 0) + n;
    }
  }
  return [...byKey.values()];
}

/** Something metered: a request's context, or whatever else carries a tally (a run object). */
export interface Metered {
  usage: UsageTally;
}

/**
 * Counts `counts` for the caller of `ctx` today: the one way facts are metered (threads
 * created, runs started and ended, upload bytes; the access log adds requests, refusals
 * and upstream calls). Sent with the request's other counts when it ends.
 */
export function meter(ctx: Metered, counts: Counts, at?: number): void {
  ctx.usage.add(counts, at);
}
