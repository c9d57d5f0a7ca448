// Section "streams": N streamed runs open at once through one workerd process, and
// what they cost it in memory. Each target is a fresh workerd (served for this section),
// so "before" is the same small, warm heap whatever ran earlier in the bench. The emulator paces events slowly so every stream stays
// open for several seconds; all N clients run in this process on one http.Agent
// (keep-alive off, no socket cap). workerd's RSS (VmRSS of /proc/<pid>/status) is
// sampled every 100 ms: before (idle, warm), while all N are open (the largest sample
// with N open) and after. Bytes per open stream = (all-open − before) / N. The bare
// pass-through, measured the same way, is the floor.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { emulatorStats, onThread, proxyThreads, runTargets, setKnobs, words } from './lib/runs.mjs';
import { streamRun, summarize } from './lib/sse-client.mjs';
import { rssBytes } from './lib/targets.mjs';

const pause = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {{
 *   ctx: import('./scenarios.mjs').BenchContext,
 *   servePair: () => Promise<import('./lib/targets.mjs').Pair>,
 *   streams: number, paceMs: number, events: number,
 * }} o
 */
export async function measureStreams(o) {
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  // This process holds N sockets; workerd holds 2N (caller + upstream), the emulator N.
  if (Number.isFinite(limit) && limit < 2 * o.streams + 200) {
    throw new Error(`ulimit -n is ${limit}: ${o.streams} streams need at least ${2 * o.streams + 200}`);
  }
  const pair = await o.servePair();
  try {
    return await measure(o, pair);
  } finally {
    await Promise.all([pair.bare.stop(), pair.proxy.stop()]);
  }
}

/**
 * @param {Parameters<typeof measureStreams>[0]} o
 * @param {import('./lib/targets.mjs').Pair} pair
 */
async function measure(o, pair) {
  const { ctx } = o;
  const jwt = await ctx.sessionJwt();
  // One thread per concurrent run (one running run per thread), made before any is opened.
  const threads = await proxyThreads(pair.proxy.url, jwt, o.streams);
  const [, bare, proxy] = runTargets({
    emulator: ctx.urls.emulator,
    bare: pair.bare.url,
    proxy: pair.proxy.url,
    projectToken: ctx.upstream.projectToken,
    threadId: ctx.upstream.threadId,
    proxyThreadId: threads[0] ?? '',
    jwt,
  });
  const reply = words(Math.max(1, o.events - 2));
  /** @typedef {import('./lib/runs.mjs').RunTarget} RunTarget */
  const bareRun = /** @type {RunTarget} */ (bare);
  const proxyRun = /** @type {RunTarget} */ (proxy);
  // The bare pass-through relays to the emulator, which runs a thread's runs side by side.
  const targets = [
    { target: bareRun, at: () => bareRun, pid: pair.bare.pid },
    {
      target: proxyRun,
      at: (/** @type {number} */ i) => onThread(proxyRun, pair.proxy.url, threads[i] ?? ''),
      pid: pair.proxy.pid,
    },
  ];
  const results = [];
  for (const { target, at, pid } of targets) {
    // Warm the isolate (and the proxy's token cache) with a quick burst, then let it settle.
    await setKnobs(ctx.urls.emulator, { reply, tool_calls: [], stream: { pace_ms: 0 } });
    await openAll(at, Math.min(20, o.streams), 20_000);
    await setKnobs(ctx.urls.emulator, { stream: { pace_ms: o.paceMs } });
    await pause(1000);
    const before = await rssBytes(pid);
    const statsBefore = await emulatorStats(ctx.urls.emulator);

    /** @type {{ at: number, rss: number, open: number }[]} */
    const samples = [];
    let open = 0;
    let sampling = true;
    const t0 = performance.now();
    const sampler = (async () => {
      while (sampling) {
        samples.push({ at: performance.now() - t0, rss: await rssBytes(pid), open });
        await pause(100);
      }
    })();
    const timeoutMs = 60_000 + o.paceMs * o.events * 2;
    const runs = await openAll(at, o.streams, timeoutMs, (type) => {
      if (type === 'start') open++;
      else if (type === 'done' || type === 'error') open--;
    });
    sampling = false;
    await sampler;
    await pause(1000);
    const after = await rssBytes(pid);
    const statsAfter = await emulatorStats(ctx.urls.emulator);

    // The samples with the most streams open (all N, unless the ramp outlasted the streams).
    const maxOpen = Math.max(0, ...samples.map((s) => s.open));
    const allOpen = samples.filter((s) => s.open === maxOpen && maxOpen > 0);
    const atAllOpen = allOpen.length ? Math.max(...allOpen.map((s) => s.rss)) : Number.NaN;
    const peak = samples.length ? Math.max(...samples.map((s) => s.rss)) : Number.NaN;
    const errors = runs.filter((r) => r.error);
    const firsts = runs.filter((r) => r.events[0]).map((r) => (r.events[0]?.at ?? 0) - r.sentAt);
    results.push({
      name: target.name,
      streams: o.streams,
      done: runs.filter((r) => r.done).length,
      errors: errors.length,
      ...(errors[0] ? { firstError: `${errors[0].error} ${errors[0].body ?? ''}`.trim() } : {}),
      maxOpen,
      allOpenForMs: maxOpen === o.streams ? (allOpen.at(-1)?.at ?? 0) - (allOpen[0]?.at ?? 0) : 0,
      allStartedAfterMs:
        firsts.length === o.streams ? Math.max(...runs.map((r) => r.events[0]?.at ?? 0)) - t0 : null,
      ttfe: summarize(firsts),
      rss: { before, atAllOpen, peak, after },
      bytesPerStream: (atAllOpen - before) / maxOpen,
      peakBytesPerStream: (peak - before) / o.streams,
      upstreamCompleted: (statsAfter.streams_completed ?? 0) - (statsBefore.streams_completed ?? 0),
      upstreamCancelled: (statsAfter.streams_cancelled ?? 0) - (statsBefore.streams_cancelled ?? 0),
    });
  }
  await setKnobs(ctx.urls.emulator, { stream: { pace_ms: 0 } });
  const floor = results.find((r) => r.name === 'bare pass-through');
  return {
    settings: { streams: o.streams, paceMs: o.paceMs, events: o.events, keepAlive: false },
    targets: results.map((r) => ({
      ...r,
      ratioVsBare: floor ? r.bytesPerStream / floor.bytesPerStream : null,
    })),
  };
}

/**
 * Opens `n` streams at once (stream `i` is `targetAt(i)`) and waits for all of them to end.
 * @param {(i: number) => import('./lib/runs.mjs').RunTarget} targetAt @param {number} n
 * @param {number} timeoutMs @param {(type: string) => void} [onEvent]
 */
async function openAll(targetAt, n, timeoutMs, onEvent) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  try {
    return await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const target = targetAt(i);
        return streamRun(target.url, target, { agent, timeoutMs, onEvent });
      }),
    );
  } finally {
    agent.destroy();
  }
}
