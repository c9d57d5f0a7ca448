// `npm run bench`: measures the Worker (bundled by wrangler, served by workerd) against
// the project's emulator, next to the emulator called directly and a bare pass-through
// Worker. See bench/README.md for the rows and how to read the ratios.
import os from 'node:os';
import path from 'node:path';
import { startEmulator } from '../scripts/lib/emulator.mjs';
import { installCleanup, killAll } from '../scripts/lib/procs.mjs';
import { bundleWorker, workerdBinary } from '../scripts/lib/worker.mjs';
import { readWorkerDecl } from '../scripts/lib/workerd-config.mjs';
import { measureDistance } from './distance.mjs';
import { upstreamFixtures } from './lib/emulator.mjs';
import { computeGoals, renderGoals } from './lib/goals.mjs';
import { computeRatios, renderTable, writeJson } from './lib/report.mjs';
import { measureRow } from './lib/rows.mjs';
import {
  limiterSummary,
  renderDistance,
  renderLimiter,
  renderSse,
  renderStreams,
} from './lib/sections-report.mjs';
import { removeStorageDirs, serveBare, serveProxy } from './lib/targets.mjs';
import { ensureWrk } from './lib/wrk.mjs';
import {
  BASELINES,
  BENCH_TENANT,
  BENCH_TENANTS,
  benchSessionJwt,
  LIMITER_SCENARIOS,
  SCENARIOS,
} from './scenarios.mjs';
import { measureSse } from './sse.mjs';
import { measureStreams } from './streams.mjs';

/** @param {string} name @param {number} fallback */
const envNumber = (name, fallback) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SECONDS = envNumber('BENCH_SECONDS', 5);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2);
const PACED_REQUESTS = envNumber('BENCH_PACED_REQUESTS', 3000);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 16);
const THREADS = envNumber('BENCH_THREADS', 2);
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : null;
const WRANGLER_CONFIG = process.env.BENCH_WRANGLER_CONFIG || 'wrangler.toml';
const SSE = {
  ttfeRuns: envNumber('BENCH_SSE_TTFE_RUNS', 200),
  runs: envNumber('BENCH_SSE_RUNS', 10),
  paceMs: envNumber('BENCH_SSE_PACE_MS', 20),
  words: envNumber('BENCH_SSE_WORDS', 50),
};
const STREAMS = {
  streams: envNumber('BENCH_STREAMS', 1000),
  paceMs: envNumber('BENCH_STREAM_PACE_MS', 1000),
  events: envNumber('BENCH_STREAM_EVENTS', 12),
};
const DISTANCE = {
  delayMs: envNumber('BENCH_DO_DELAY_MS', 20),
  requests: envNumber('BENCH_DISTANCE_REQUESTS', 500),
  runs: envNumber('BENCH_DISTANCE_RUNS', 50),
};
const BARE = 'bare pass-through';
const WORK_DIR = path.resolve('.tmp/bench');
const OUT_FILE = path.resolve('bench/out/latest.json');

const selected = [...BASELINES, ...SCENARIOS, ...LIMITER_SCENARIOS];
const wanted = selected.filter((s) => !ONLY || ONLY.test(s.name));
// A selected row brings its baseline row along (and every row is compared with bare).
const allRows = selected.filter(
  (s) => s.name === BARE || wanted.includes(s) || wanted.some((w) => w.baseline === s.name),
);
const runSse = !ONLY || ONLY.test('sse');
const runStreams = !ONLY || ONLY.test('streams');
const runDistance = !ONLY || ONLY.test('distance');
// Paced runs stop at whichever comes first: the request count or this wall-clock budget.
const PACED_BUDGET_MS = Math.max(30_000, SECONDS * 6000);
const PER_ROW_MS = (WARMUP_SECONDS + SECONDS + 2 * 15) * 1000 + 2 * PACED_BUDGET_MS;
const SSE_MS = 60_000 + SSE.ttfeRuns * 3 * 200 + SSE.runs * 3 * (SSE.words + 2) * (SSE.paceMs + 50);
const STREAMS_MS = 2 * (120_000 + 2 * STREAMS.paceMs * STREAMS.events);
const MAX_MS =
  envNumber('BENCH_MAX_SECONDS', 0) * 1000 ||
  240_000 +
    allRows.length * PER_ROW_MS +
    (runSse ? SSE_MS : 0) +
    (runStreams ? STREAMS_MS : 0) +
    (runDistance ? 8 * 30_000 + DISTANCE.runs * 2 * (DISTANCE.delayMs * 4 + 200) : 0);

installCleanup(removeStorageDirs);
// Whatever happens, the bench ends: children are killed and the process exits.
setTimeout(() => {
  console.error(`bench: gave up after ${Math.round(MAX_MS / 1000)} s (BENCH_MAX_SECONDS)`);
  killAll();
  removeStorageDirs();
  process.exit(1);
}, MAX_MS).unref();

/**
 * Runs `fn`, turning a failure into `{ error }` so that one broken part fails only the
 * rows that depend on it.
 * @template T @param {string} what @param {() => Promise<T>} fn
 * @returns {Promise<{ ok: T } | { error: string }>}
 */
async function attempt(what, fn) {
  const started = Date.now();
  process.stdout.write(`bench: ${what} ... `);
  try {
    const ok = await fn();
    console.log(`ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return { ok };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.log(`FAILED\n   ${message}`);
    return { error: `${what} failed: ${message.split('\n')[0]}` };
  }
}

await ensureWrk();
console.log(`bench: workerd ${workerdBinary()}`);
console.log(
  `bench: ${SECONDS} s per wrk run (-t${THREADS} -c${CONNECTIONS}), ${WARMUP_SECONDS} s warm-up, ${PACED_REQUESTS} paced requests`,
);

const emulator = await attempt('starting the emulator', () => startEmulator({ logDir: WORK_DIR }));
const emulatorUrl = 'ok' in emulator ? emulator.ok.url : 'http://127.0.0.1:9';
const fixtures =
  'ok' in emulator
    ? await attempt('creating upstream fixtures', () =>
        upstreamFixtures(emulatorUrl, BENCH_TENANT.project_id),
      )
    : emulator;

const decl = await attempt(`reading ${WRANGLER_CONFIG}`, () => readWorkerDecl(WRANGLER_CONFIG));
const compat =
  'ok' in decl
    ? { compatibilityDate: decl.ok.compatibilityDate, compatibilityFlags: decl.ok.compatibilityFlags }
    : { compatibilityDate: '2026-11-01', compatibilityFlags: ['nodejs_compat', 'enable_request_signal'] };
for (const n of 'ok' in decl ? decl.ok.notes : []) console.log(`bench: note: ${n}`);

const bare =
  'ok' in emulator
    ? await attempt('serving bench/passthrough.js with workerd', () =>
        serveBare({ service: 'passthrough', upstream: emulatorUrl, compat, workDir: WORK_DIR }),
      )
    : emulator;

const outdir = path.join(WORK_DIR, 'proxy');
/** @param {string} service @param {string} upstream @param {number} [doDelayMs] */
const proxyOn = (service, upstream, doDelayMs = 0) =>
  'ok' in decl
    ? serveProxy({
        service,
        upstream,
        compat,
        workDir: WORK_DIR,
        outdir,
        decl: decl.ok,
        tenants: BENCH_TENANTS,
        doDelayMs,
      })
    : Promise.reject(new Error(decl.error));
const proxy =
  'ok' in decl
    ? await attempt(
        'bundling the Worker (wrangler deploy --dry-run) and serving it with workerd',
        async () => {
          await bundleWorker(WRANGLER_CONFIG, outdir);
          return proxyOn('proxy', emulatorUrl);
        },
      )
    : decl;

/** @type {Record<import('./scenarios.mjs').Target, { ok: { url: string } } | { error: string }>} */
const targets = { emulator, bare, proxy };
const runId = Date.now().toString(36);

/** @type {import('./scenarios.mjs').BenchContext} */
const ctx = {
  urls: {
    emulator: emulatorUrl,
    bare: 'ok' in bare ? bare.ok.url : '',
    proxy: 'ok' in proxy ? proxy.ok.url : '',
  },
  get upstream() {
    if ('error' in fixtures) throw new Error(fixtures.error);
    return fixtures.ok;
  },
  runId,
  sessionJwt: (sub = `bench-user-${runId}`) => benchSessionJwt(sub),
  request: async (target, req) => {
    const res = await fetch(`${ctx.urls[target]}${req.path}`, {
      method: req.method ?? 'GET',
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, text, json };
  },
};

/** @type {import('./lib/report.mjs').RowResult[]} */
const rows = [];
for (const scenario of allRows) {
  console.log(`bench: ${scenario.name}`);
  rows.push(
    await measureRow(scenario, {
      ctx,
      targets,
      emulatorUrl,
      bare: BARE,
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      pacedRequests: PACED_REQUESTS,
      pacedBudgetMs: PACED_BUDGET_MS,
      connections: CONNECTIONS,
      threads: THREADS,
      scriptFile: path.join(WORK_DIR, 'wrk.lua'),
    }),
  );
}

computeRatios(rows);
console.log(`\n${renderTable(rows, BARE)}\n`);
/** @type {Record<string, unknown>} */
const sections = {};
const limiter = limiterSummary(rows);
if (limiter) {
  sections.limiter = limiter;
  console.log(`${renderLimiter(limiter)}\n`);
}
/**
 * A fresh bare/proxy pair in front of `upstream` (service names get `suffix`).
 * @param {string} suffix @param {string} upstream
 */
const servePair = async (suffix, upstream) => ({
  bare: await serveBare({ service: `passthrough${suffix}`, upstream, compat, workDir: WORK_DIR }),
  proxy: await proxyOn(`proxy${suffix}`, upstream),
});
const ready = 'ok' in emulator && 'ok' in fixtures && 'ok' in bare && 'ok' in proxy;
if (runSse) {
  const sse = ready
    ? await attempt('section sse: time to first event and per-event delay', () =>
        measureSse({
          ctx,
          ...SSE,
          emulatorPort: Number(new URL(emulatorUrl).port),
          projectId: BENCH_TENANT.project_id,
          servePair: (upstream) => servePair('Tap', upstream),
        }),
      )
    : { error: 'the emulator, the fixtures or a Worker did not start' };
  sections.sse = 'ok' in sse ? sse.ok : sse;
  console.log(`\n${'ok' in sse ? renderSse(sse.ok) : `SSE section failed: ${sse.error}`}\n`);
}
if (runStreams) {
  const streams = ready
    ? await attempt(`section streams: ${STREAMS.streams} concurrent streams`, () =>
        measureStreams({ ctx, ...STREAMS, servePair: () => servePair('Streams', emulatorUrl) }),
      )
    : { error: 'the emulator, the fixtures or a Worker did not start' };
  sections.streams = 'ok' in streams ? streams.ok : streams;
  console.log(
    `\n${'ok' in streams ? renderStreams(streams.ok) : `streams section failed: ${streams.error}`}\n`,
  );
}
if (runDistance) {
  const distance = ready
    ? await attempt(`section distance: Durable Object calls delayed ${DISTANCE.delayMs} ms`, () =>
        measureDistance({
          ctx,
          ...DISTANCE,
          serveFar: () => proxyOn('proxyFar', emulatorUrl, DISTANCE.delayMs),
        }),
      )
    : { error: 'the emulator, the fixtures or a Worker did not start' };
  sections.distance = 'ok' in distance ? distance.ok : distance;
  console.log(
    `\n${'ok' in distance ? renderDistance(distance.ok) : `distance section failed: ${distance.error}`}\n`,
  );
}
const goals = computeGoals(rows, sections);
console.log(`Targets (issues 13 and 17), this run:\n\n${renderGoals(goals)}\n`);
writeJson(
  OUT_FILE,
  {
    date: new Date().toISOString(),
    // A partial run (BENCH_ONLY) leaves targets unmeasured: the README is not generated from it.
    partial: ONLY ? process.env.BENCH_ONLY : false,
    targets: goals,
    settings: {
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      pacedRequests: PACED_REQUESTS,
      connections: CONNECTIONS,
      threads: THREADS,
      sse: SSE,
      streams: STREAMS,
      distance: DISTANCE,
    },
    machine: { cpus: os.cpus().length, node: process.version, workerd: workerdBinary() },
  },
  rows,
  sections,
);
console.log(`bench: results written to ${path.relative(process.cwd(), OUT_FILE)}`);

for (const t of [proxy, bare, emulator]) if ('ok' in t) await t.ok.stop();
removeStorageDirs();
const sectionFailed = Object.values(sections).some((s) => s && typeof s === 'object' && 'error' in s);
process.exit(rows.some((r) => r.status === 'error' && !r.optional) || sectionFailed ? 1 : 0);
