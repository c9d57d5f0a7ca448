// The sections printed under the main table: SSE delay, concurrent streams, limiter.
// Each compares the proxy with a baseline measured in the same run.
import { grid, ms, ratio } from './report.mjs';

const KIB = 1024;
const MIB = 1024 * 1024;
const mib = (/** @type {number} */ b) => (Number.isFinite(b) ? `${(b / MIB).toFixed(1)} MiB` : '-');
const kib = (/** @type {number} */ b) => (Number.isFinite(b) ? `${(b / KIB).toFixed(1)} KiB` : '-');
const signed = (/** @type {number | undefined} */ v) =>
  v === undefined || !Number.isFinite(v) ? '-' : `${v >= 0 ? '+' : ''}${ms(v)}`;
/** @param {boolean} ok */
const verdict = (ok) => (ok ? 'met' : 'NOT met');

/** @param {Awaited<ReturnType<typeof import('../sse.mjs').measureSse>>} s */
export function renderSse(s) {
  const { settings: o } = s;
  const lines = [
    `SSE, time to first event: ${o.ttfeRuns} runs per target (emulator pace 0); per-event delay: ` +
      `${o.runs} runs of ${o.words + 2} events (pace ${o.paceMs} ms) per target behind a TCP tap. ` +
      'Node http client, keep-alive on, one stream at a time, targets interleaved.',
    'lag = client arrival - the moment the tap forwarded the upstream event (first event excluded).',
    '',
    grid(
      [
        'target',
        'first event p50',
        'p99',
        'added p50/p99 vs direct',
        'p50 ratio vs bare',
        'lag p50',
        'lag p99',
        'added p50/p99 vs direct',
        'p50 ratio vs bare',
        'jitter p99',
        'errors',
      ],
      s.targets.map((t) => [
        t.name,
        ms(t.ttfe?.p50),
        ms(t.ttfe?.p99),
        t.name === 'emulator direct'
          ? '-'
          : `${signed(t.addedVsDirect?.ttfeP50)} / ${signed(t.addedVsDirect?.ttfeP99)}`,
        ratio(t.ratioVsBare?.ttfeP50),
        ms(t.lag?.p50),
        ms(t.lag?.p99),
        t.name === 'emulator direct'
          ? '-'
          : `${signed(t.addedVsDirect?.lagP50)} / ${signed(t.addedVsDirect?.lagP99)}`,
        ratio(t.ratioVsBare?.lagP50),
        ms(t.jitter?.p99),
        t.errors ? `${t.errors}: ${t.firstError}` : '0',
      ]),
    ),
  ];
  const proxy = s.targets.find((t) => t.name === 'proxy');
  if (proxy?.addedVsDirect) {
    const { lagP50, ttfeP50 } = proxy.addedVsDirect;
    lines.push(
      '',
      `target: <= 0.50 ms p50 added per event -> ${signed(lagP50)}: ${verdict(lagP50 <= 0.5)}`,
      `target: <= 2.00 ms added to the first event (p50) -> ${signed(ttfeP50)}: ${verdict(ttfeP50 <= 2)}`,
    );
  }
  return lines.join('\n');
}

/** @param {Awaited<ReturnType<typeof import('../streams.mjs').measureStreams>>} s */
export function renderStreams(s) {
  const { settings: o } = s;
  const lines = [
    `${o.streams} concurrent streams through one workerd process: ${o.events} events each, pace ${o.paceMs} ms, ` +
      'one Node client, keep-alive off. RSS = VmRSS of the workerd process.',
    '',
    grid(
      [
        'target',
        'done',
        'errors',
        'all open for',
        'RSS before',
        'RSS all open',
        'per open stream',
        'ratio vs bare',
        'peak per stream',
        'RSS after',
        'first event p50',
        'p99',
      ],
      s.targets.map((t) => [
        t.name,
        `${t.done}/${t.streams}`,
        t.errors ? `${t.errors}: ${t.firstError}` : '0',
        t.maxOpen === t.streams ? `${(t.allOpenForMs / 1000).toFixed(1)} s` : `never (max ${t.maxOpen})`,
        mib(t.rss.before),
        mib(t.rss.atAllOpen),
        kib(t.bytesPerStream),
        ratio(t.ratioVsBare ?? undefined),
        kib(t.peakBytesPerStream),
        mib(t.rss.after),
        ms(t.ttfe.p50),
        ms(t.ttfe.p99),
      ]),
    ),
  ];
  const proxy = s.targets.find((t) => t.name === 'proxy');
  if (proxy) {
    lines.push(
      '',
      `target: <= 1.5x the bare pass-through per open run -> ${ratio(proxy.ratioVsBare ?? undefined)} (${kib(proxy.bytesPerStream)}): ${verdict((proxy.ratioVsBare ?? Number.POSITIVE_INFINITY) <= 1.5)}`,
      `target: all ${o.streams} streams end with done -> ${proxy.done}/${o.streams}: ${verdict(proxy.done === o.streams)}`,
    );
  }
  return lines.join('\n');
}

/**
 * The limiter's figures, from the rows `proxy GET /healthz` (no admission) and the
 * `limiter:` rows: decisions/s, and what admission adds to /healthz's paced latency.
 * @param {import('./report.mjs').RowResult[]} rows
 */
export function limiterSummary(rows) {
  const base = rows.find((r) => r.name === 'proxy GET /healthz');
  const limited = rows.filter((r) => r.name.startsWith('limiter:'));
  if (!base?.paced || !base.wrk || limited.length === 0) return null;
  return [base, ...limited].map((r) => ({
    route: r === base ? 'proxy GET /healthz (no admission)' : r.name.replace(/^limiter: /, ''),
    status: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    decisionsPerSecond: r === base ? null : (r.wrk?.rps ?? null),
    rps: r.wrk?.rps ?? null,
    p50: r.paced?.p50 ?? null,
    p99: r.paced?.p99 ?? null,
    addedP50: r === base || !r.paced ? null : r.paced.p50 - (base.paced?.p50 ?? Number.NaN),
    addedP99: r === base || !r.paced ? null : r.paced.p99 - (base.paced?.p99 ?? Number.NaN),
    rpsRatio: r === base || !r.wrk ? null : r.wrk.rps / (base.wrk?.rps ?? Number.NaN),
    refusedShare: r.refusedShare ?? null,
  }));
}

/** @param {NonNullable<ReturnType<typeof limiterSummary>>} summary */
export function renderLimiter(summary) {
  const n = (/** @type {number | null} */ v) => v ?? undefined;
  const body = summary.map((r) =>
    r.status !== 'ok'
      ? [r.route, `${r.status}: ${r.reason ?? ''}`, '', '', '', '', '', '']
      : [
          r.route,
          Math.round(r.rps ?? 0).toLocaleString('en-US'),
          ms(n(r.p50)),
          ms(n(r.p99)),
          signed(n(r.addedP50)),
          signed(n(r.addedP99)),
          ratio(n(r.rpsRatio)),
          r.refusedShare === null ? '-' : `${(r.refusedShare * 100).toFixed(2)} %`,
        ],
  );
  return [
    'Limiter: every /v1 route passes admission (one TenantState round trip); /healthz passes none.',
    'Decisions/s = wrk rps of GET /v1/usage (no upstream call). Added latency = paced p50/p99 minus /healthz.',
    '',
    grid(
      [
        'route',
        'rps (decisions/s)',
        'p50 (paced)',
        'p99 (paced)',
        'added p50',
        'added p99',
        'rps ratio vs /healthz',
        '429 share (wrk)',
      ],
      body,
    ),
  ].join('\n');
}

/** @param {Awaited<ReturnType<typeof import('../distance.mjs').measureDistance>>} d */
export function renderDistance(d) {
  return [
    `Distance: a second proxy whose every Durable Object call waits ${d.delayMs} ms first (BENCH_DO_DELAY_MS).`,
    'Paced p50 of the same route on both; round trips = rise / delay (what the route waits on objects).',
    '',
    grid(
      ['route', 'p50', `p50, DO +${d.delayMs} ms`, 'rise', 'round trips', 'errors'],
      d.rows.map((r) => [
        r.name,
        ms(r.p50 ?? undefined),
        ms(r.delayedP50 ?? undefined),
        signed(r.rise),
        r.calls,
        String(r.errors),
      ]),
    ),
    '',
    `target: a read's p50 rises < 2 ms with the delay -> ${signed(d.readRiseP50 ?? undefined)}: ${verdict((d.readRiseP50 ?? Number.POSITIVE_INFINITY) < 2)}`,
  ].join('\n');
}
