// Section "sse": what the proxy adds to a streamed run, event by event, next to the
// emulator called directly and the bare pass-through relaying the stream as is.
//
// 1. Time to first event (TTFE): request written → first complete event read, on the
//    bench's Workers (no tap), emulator pace 0, a two-word reply. Keep-alive on (one
//    connection per target, set up in the warm-up), so TCP connects are not counted.
// 2. Per-event delay: a second bare/proxy pair served in front of a TCP tap
//    (lib/tap.mjs); the emulator paces events (`stream.pace_ms`). For each event,
//    lag = client arrival − the moment the tap forwarded the upstream's event, both in
//    this process's clock. The added delay is the target's lag minus the direct lag.
// Runs are interleaved (direct, bare, proxy, direct, ...) so load spikes hit all three.
import http from 'node:http';
import { upstreamFixtures } from './lib/emulator.mjs';
import { proxyThread, runTargets, setKnobs, words } from './lib/runs.mjs';
import { streamRun, summarize } from './lib/sse-client.mjs';
import { startTap } from './lib/tap.mjs';

/** The three ways runTargets addresses a run, in its order. */
const TARGETS = ['emulator direct', 'bare pass-through', 'proxy'];

/**
 * @typedef {import('./lib/runs.mjs').RunTarget} RunTarget
 * @typedef {{ name: string, ttfe?: ReturnType<typeof summarize>, lag?: ReturnType<typeof summarize>,
 *   lagFirst?: ReturnType<typeof summarize>, jitter?: ReturnType<typeof summarize>,
 *   events?: number, errors: number, firstError?: string }} SseTargetResult
 */

/**
 * @param {{
 *   ctx: import('./scenarios.mjs').BenchContext, emulatorPort: number, projectId: string,
 *   servePair: (upstream: string) => Promise<import('./lib/targets.mjs').Pair>,
 *   ttfeRuns: number, runs: number, paceMs: number, words: number,
 * }} o
 */
export async function measureSse(o) {
  const { ctx } = o;
  const jwt = await ctx.sessionJwt();
  /** @type {Map<string, SseTargetResult>} */
  const results = new Map(TARGETS.map((name) => [name, { name, errors: 0 }]));
  const result = (/** @type {string} */ name) => /** @type {SseTargetResult} */ (results.get(name));
  const fail = (/** @type {string} */ name, /** @type {string} */ error) => {
    const r = result(name);
    r.errors++;
    r.firstError ??= error;
  };

  // 1. Time to first event, on the bench's own Workers.
  await setKnobs(ctx.urls.emulator, { reply: 'hello there', tool_calls: [], stream: { pace_ms: 0 } });
  const main = runTargets({
    emulator: ctx.urls.emulator,
    bare: ctx.urls.bare,
    proxy: ctx.urls.proxy,
    projectToken: ctx.upstream.projectToken,
    threadId: ctx.upstream.threadId,
    proxyThreadId: await proxyThread(ctx.urls.proxy, jwt),
    jwt,
  });
  /** @type {Record<string, number[]>} */
  const ttfe = Object.fromEntries(TARGETS.map((name) => [name, []]));
  await interleaved(main, 20, 10_000, () => {});
  await interleaved(main, o.ttfeRuns, 10_000, (t, r) => {
    if (r.error || !r.events[0]) return fail(t.name, r.error ?? 'no event');
    ttfe[t.name]?.push(r.events[0].at - r.sentAt);
  });
  for (const [name, values] of Object.entries(ttfe)) if (values.length) result(name).ttfe = summarize(values);

  // 2. Per-event delay, behind the tap (a universe of its own in the emulator).
  const tap = await startTap(o.emulatorPort);
  /** @type {import('./lib/targets.mjs').Pair | undefined} */
  let tapped;
  try {
    await setKnobs(tap.url, {
      rate_limit_per_minute: 100_000_000,
      reply: words(o.words),
      tool_calls: [],
      stream: { pace_ms: o.paceMs },
    });
    const up = await upstreamFixtures(tap.url, o.projectId);
    tapped = await o.servePair(tap.url);
    const targets = runTargets({
      emulator: tap.url,
      bare: tapped.bare.url,
      proxy: tapped.proxy.url,
      projectToken: up.projectToken,
      threadId: up.threadId,
      proxyThreadId: await proxyThread(tapped.proxy.url, jwt),
      jwt,
    });
    /** @type {Record<string, { lag: number[], first: number[], jitter: number[], events: number }>} */
    const acc = Object.fromEntries(
      TARGETS.map((name) => [name, { lag: [], first: [], jitter: [], events: 0 }]),
    );
    const timeoutMs = 30_000 + 2 * o.paceMs * (o.words + 2);
    await interleaved(targets, 1, timeoutMs, () => {}, tap.reset);
    await interleaved(
      targets,
      o.runs,
      timeoutMs,
      (t, r) => {
        if (r.error) return fail(t.name, r.error);
        const marks = [...tap.marks];
        if (marks.length !== r.events.length) {
          return fail(t.name, `${r.events.length} events arrived, the upstream sent ${marks.length}`);
        }
        const a = acc[t.name];
        if (!a) return;
        a.events += r.events.length;
        const lags = r.events.map((e, i) => e.at - (marks[i] ?? Number.NaN));
        a.first.push(...lags.slice(0, 1));
        a.lag.push(...lags.slice(1));
        // How much the lag moves from one event to the next: jitter the target adds.
        for (let i = 1; i < lags.length; i++) a.jitter.push(Math.abs((lags[i] ?? 0) - (lags[i - 1] ?? 0)));
      },
      tap.reset,
    );
    for (const [name, a] of Object.entries(acc)) {
      if (a.events === 0) continue;
      Object.assign(result(name), {
        lag: summarize(a.lag),
        lagFirst: summarize(a.first),
        jitter: summarize(a.jitter),
        events: a.events,
      });
    }
  } finally {
    await Promise.all([tapped?.bare.stop(), tapped?.proxy.stop()]);
    await tap.close();
  }

  const list = [...results.values()];
  const direct = results.get('emulator direct');
  const bare = results.get('bare pass-through');
  const added = (/** @type {SseTargetResult} */ r, /** @type {SseTargetResult | undefined} */ base) =>
    base && {
      ttfeP50: (r.ttfe?.p50 ?? Number.NaN) - (base.ttfe?.p50 ?? Number.NaN),
      ttfeP99: (r.ttfe?.p99 ?? Number.NaN) - (base.ttfe?.p99 ?? Number.NaN),
      lagP50: (r.lag?.p50 ?? Number.NaN) - (base.lag?.p50 ?? Number.NaN),
      lagP99: (r.lag?.p99 ?? Number.NaN) - (base.lag?.p99 ?? Number.NaN),
    };
  return {
    settings: {
      ttfeRuns: o.ttfeRuns,
      runs: o.runs,
      paceMs: o.paceMs,
      words: o.words,
      keepAlive: true,
      clock: 'performance.now() in the bench process; tap and client share it',
    },
    targets: list.map((r) => ({
      ...r,
      addedVsDirect: added(r, direct),
      addedVsBare: added(r, bare),
      ratioVsBare: bare && {
        ttfeP50: (r.ttfe?.p50 ?? Number.NaN) / (bare.ttfe?.p50 ?? Number.NaN),
        lagP50: (r.lag?.p50 ?? Number.NaN) / (bare.lag?.p50 ?? Number.NaN),
      },
    })),
  };
}

/**
 * Runs each target `rounds` times, one stream at a time, targets interleaved, each on
 * its own keep-alive connection.
 * @param {RunTarget[]} targets @param {number} rounds @param {number} timeoutMs
 * @param {(t: RunTarget, r: import('./lib/sse-client.mjs').StreamResult) => void} record
 * @param {() => void} [before] called right before each run (resets the tap)
 */
async function interleaved(targets, rounds, timeoutMs, record, before) {
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    for (let i = 0; i < rounds; i++) {
      for (const [j, t] of targets.entries()) {
        before?.();
        const r = await streamRun(t.url, t, { agent: /** @type {http.Agent} */ (agents[j]), timeoutMs });
        await new Promise((resolve) => setTimeout(resolve, 2));
        record(t, r);
      }
    }
  } finally {
    for (const a of agents) a.destroy();
  }
}
