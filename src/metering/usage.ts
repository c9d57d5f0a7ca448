import { errorName, log } from '../log';
import { type Counts, isMetric, type UsageEntry, utcDay } from './metrics';

/** What takes a tally's counts: the tenant's state object (objects/tenant-state.ts `meter`). */
export interface MeterSink {
  meter(entries: UsageEntry[]): Promise<unknown>;
}

/** Where a tally's counts go: the tenant's state object (a fresh stub for the one retry). */
export interface TallyTarget {
  tenant: string;
  user: string;
  requestId: string;
  stub: () => MeterSink;
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
   * Sends what was counted so far (nothing when nothing was) and starts afresh. Resolves
   * once the tenant's state has written it; a call lost to an object reset is sent once
   * more on a fresh stub, and counts that still cannot be delivered are logged (summed,
   * without the user), never dropped in silence. Never throws.
   */
  async ship(): Promise<void> {
    const entries: UsageEntry[] = [];
    for (const [day, counts] of this.#days) {
      if (Object.keys(counts).length > 0) entries.push({ day, user: this.#target.user, counts });
    }
    this.#days = new Map();
    if (entries.length === 0) return;
    const { tenant, requestId, stub } = this.#target;
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
