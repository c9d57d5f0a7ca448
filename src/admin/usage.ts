import { COUNTERS, type Counter, isMetric, REFUSALS, type Refusal } from '../metering/metrics';
import type { UsageRow } from '../objects/meter-book';

/**
 * `GET /admin/v1/usage`: the metered counts of each tenant's state object, per UTC day
 * (and per user with `group=user`), as JSON, CSV or NDJSON (contract section 6).
 */

/** One row of an export: a tenant's (or one of its users') counts on one day. */
export interface UsageRecord {
  tenant: string;
  day: string;
  user?: string;
  requests: number;
  /** Refused requests by reason (only the reasons that occurred). */
  refused: Partial<Record<Refusal, number>>;
  threads_created: number;
  runs_started: number;
  runs_completed: number;
  runs_cancelled: number;
  run_seconds: number;
  events: number;
  upstream_calls: number;
  upload_bytes: number;
}

type Plain = Exclude<Counter, 'run_ms'>;
const PLAIN = COUNTERS.filter((c): c is Plain => c !== 'run_ms');

/** Folds one tenant's stored rows (of each of its incarnations) into records, one per day (and user). */
export function toRecords(tenant: string, rows: readonly UsageRow[], byUser: boolean): UsageRecord[] {
  const records = new Map<string, UsageRecord>();
  for (const row of rows) {
    if (!isMetric(row.metric)) continue;
    const key = `${row.day}\u0000${row.user}`;
    let record = records.get(key);
    if (!record) {
      record = { tenant, day: row.day, ...(byUser ? { user: row.user } : {}), ...empty() };
      records.set(key, record);
    }
    const metric = row.metric;
    // Run time is stored in ms, shown in seconds (summed: one row per incarnation of the id).
    // Added in ms and rounded to them, so that summing incarnations adds no float error (0.30000000000000004).
    if (metric === 'run_ms') record.run_seconds = Math.round(record.run_seconds * 1000 + row.n) / 1000;
    else if (metric.startsWith('refused.')) {
      const reason = REFUSALS.find((r) => `refused.${r}` === metric);
      if (reason) record.refused[reason] = (record.refused[reason] ?? 0) + row.n;
    } else {
      const counter = PLAIN.find((c) => c === metric);
      if (counter) record[counter] += row.n;
    }
  }
  return [...records.values()];
}

function empty(): Omit<UsageRecord, 'tenant' | 'day' | 'user'> {
  return {
    requests: 0,
    refused: {},
    threads_created: 0,
    runs_started: 0,
    runs_completed: 0,
    runs_cancelled: 0,
    run_seconds: 0,
    events: 0,
    upstream_calls: 0,
    upload_bytes: 0,
  };
}

const refusedTotal = (record: UsageRecord) => Object.values(record.refused).reduce((a, n) => a + (n ?? 0), 0);

/** The CSV columns, in order: `refused` is the total, `refused_<reason>` each reason. */
export function csvColumns(byUser: boolean): string[] {
  return [
    'tenant',
    'day',
    ...(byUser ? ['user'] : []),
    'requests',
    'refused',
    ...REFUSALS.map((reason) => `refused_${reason}`),
    'threads_created',
    'runs_started',
    'runs_completed',
    'runs_cancelled',
    'run_seconds',
    'events',
    'upstream_calls',
    'upload_bytes',
  ];
}

/**
 * A CSV field (RFC 4180): quoted when it holds a comma, quote or line break, and a user
 * id that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed
 * with `'` so it stays text.
 */
export function csvField(value: string | number): string {
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The records as CSV, header first, CRLF line ends. */
export function toCsv(records: readonly UsageRecord[], byUser: boolean): string {
  const lines = [csvColumns(byUser).join(',')];
  for (const r of records) {
    const fields: (string | number)[] = [
      r.tenant,
      r.day,
      ...(byUser ? [r.user ?? ''] : []),
      r.requests,
      refusedTotal(r),
      ...REFUSALS.map((reason) => r.refused[reason] ?? 0),
      r.threads_created,
      r.runs_started,
      r.runs_completed,
      r.runs_cancelled,
      r.run_seconds,
      r.events,
      r.upstream_calls,
      r.upload_bytes,
    ];
    lines.push(fields.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The records as NDJSON: one JSON object a line. */
export const toNdjson = (records: readonly UsageRecord[]): string =>
  records.map((record) => `${JSON.stringify(record)}\n`).join('');

/** Runs `work` on each item, at most `width` at a time, results in order. */
export async function inBatches<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>) {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width)
    out.push(...(await Promise.all(items.slice(i, i + width).map(work))));
  return out;
}
