// `npm run bench:profile [-- cpu|heap|all|reads]`: where the run path's (or, with `reads`, the
// read path's) time and memory go.
// Serves the bundled proxy with workerd's V8 inspector on (the Worker and its Durable
// Objects share one isolate, so one profile covers both), drives runs through it and
// reads the inspector:
//
//   cpu   two CPU profiles: `events` (runs of PROFILE_WORDS paced events, the per-event
//         path) and `first` (two-word runs, pace 0, one after another: the first-event
//         path). Self time by function, top PROFILE_TOP, and by module.
//   heap  a heap snapshot with nothing open, then one with PROFILE_STREAMS runs open at
//         once (each on a thread of its own, events PROFILE_PACE_MS apart), taken
//         PROFILE_HOLD_MS after all are open (RSS and V8 heap sampled meanwhile: growth
//         while they stream is memory per event): retained size by constructor, per open run.
//
// Profiles go to .tmp/profile/*.cpuprofile and *.heapsnapshot (open them in Chrome
// DevTools). Contacts nothing but 127.0.0.1. See bench/README.md.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startEmulator } from '../scripts/lib/emulator.mjs';
import { freePort, installCleanup } from '../scripts/lib/procs.mjs';
import { bundleWorker } from '../scripts/lib/worker.mjs';
import { readWorkerDecl } from '../scripts/lib/workerd-config.mjs';
import { upstreamFixtures } from './lib/emulator.mjs';
import { heapSummary, Inspector, profileSummary } from './lib/inspector.mjs';
import { onThread, proxyThreads, runTargets, setKnobs, words } from './lib/runs.mjs';
import { streamRun } from './lib/sse-client.mjs';
import { removeStorageDirs, rssBytes, serveProxy } from './lib/targets.mjs';
import { BENCH_TENANT, BENCH_TENANTS, benchSessionJwt } from './scenarios.mjs';

const num = (/** @type {string} */ name, /** @type {number} */ fallback) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const MODE = process.argv[2] ?? 'all';
const RUNS = num('PROFILE_RUNS', 40);
const WORDS = num('PROFILE_WORDS', 100);
const FIRST_RUNS = num('PROFILE_FIRST_RUNS', 300);
const STREAMS = num('PROFILE_STREAMS', 1000);
const TOP = num('PROFILE_TOP', 25);
const PACE_MS = num('PROFILE_PACE_MS', 1000);
const HOLD_MS = num('PROFILE_HOLD_MS', 6000);
const WORK_DIR = path.resolve('.tmp/profile');

installCleanup(removeStorageDirs);
setTimeout(() => {
  console.error('profile: gave up after 15 minutes');
  process.exit(1);
}, 15 * 60_000).unref();

const emulator = await startEmulator({ logDir: WORK_DIR });
const upstream = await upstreamFixtures(emulator.url, BENCH_TENANT.project_id);
const decl = await readWorkerDecl('wrangler.toml');
const outdir = path.join(WORK_DIR, 'proxy');
await bundleWorker('wrangler.toml', outdir);
const inspectorPort = await freePort();
const proxy = await serveProxy({
  service: 'proxy',
  upstream: emulator.url,
  compat: { compatibilityDate: decl.compatibilityDate, compatibilityFlags: decl.compatibilityFlags },
  workDir: WORK_DIR,
  outdir,
  decl,
  tenants: BENCH_TENANTS,
  inspectorPort,
});
const inspector = await Inspector.connect(inspectorPort, 'proxy');
const jwt = await benchSessionJwt(`profile-user-${Date.now().toString(36)}`);
const [, , run] = runTargets({
  emulator: emulator.url,
  bare: emulator.url,
  proxy: proxy.url,
  projectToken: upstream.projectToken,
  threadId: upstream.threadId,
  proxyThreadId: (await proxyThreads(proxy.url, jwt, 1))[0] ?? '',
  jwt,
});
const target = /** @type {import('./lib/runs.mjs').RunTarget} */ (run);

/** Runs `n` runs one after another on one keep-alive connection; returns how many ended with done. */
async function sequential(/** @type {number} */ n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let done = 0;
  try {
    for (let i = 0; i < n; i++) {
      const r = await streamRun(target.url, target, { agent, timeoutMs: 60_000 });
      if (r.done) done++;
    }
  } finally {
    agent.destroy();
  }
  return done;
}

try {
  if (MODE === 'cpu' || MODE === 'all') {
    for (const phase of /** @type {const} */ (['events', 'first'])) {
      const knobs =
        phase === 'events'
          ? { reply: words(WORDS), tool_calls: [], stream: { pace_ms: 2 } }
          : { reply: 'hello there', tool_calls: [], stream: { pace_ms: 0 } };
      await setKnobs(emulator.url, knobs);
      await sequential(10); // warm: JIT, token cache, the thread's object
      await inspector.send('Profiler.enable');
      await inspector.send('Profiler.setSamplingInterval', { interval: 100 });
      await inspector.send('Profiler.start');
      const n = phase === 'events' ? RUNS : FIRST_RUNS;
      const done = await sequential(n);
      const { profile } = await inspector.send('Profiler.stop');
      const file = path.join(WORK_DIR, `run-${phase}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      const events = phase === 'events' ? n * (WORDS + 2) : n;
      console.log(`\nCPU profile "${phase}": ${done}/${n} runs, ${events} events -> ${file}`);
      const perLabel = phase === 'events' ? 'event' : 'run';
      const bundle = path.join(outdir, 'index.js');
      console.log(profileSummary(profile, { top: TOP, per: events, perLabel, bundle }));
    }
  }
  if (MODE === 'reads') {
    // The read path: `GET /v1/threads/{id}` one after another on one keep-alive connection.
    const thread = (await proxyThreads(proxy.url, jwt, 1))[0] ?? '';
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const readOnce = () =>
      new Promise((resolve, reject) => {
        const req = http.get(
          `${proxy.url}/v1/threads/${thread}`,
          { agent, headers: { authorization: `Bearer ${jwt}` } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode));
          },
        );
        req.on('error', reject);
      });
    for (let i = 0; i < 300; i++) await readOnce(); // warm
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: 100 });
    await inspector.send('Profiler.start');
    const n = num('PROFILE_READS', 3000);
    for (let i = 0; i < n; i++) await readOnce();
    const { profile } = await inspector.send('Profiler.stop');
    const file = path.join(WORK_DIR, 'reads.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    console.log(`\nCPU profile "reads": ${n} reads -> ${file}`);
    console.log(
      profileSummary(profile, { top: TOP, per: n, perLabel: 'read', bundle: path.join(outdir, 'index.js') }),
    );
    agent.destroy();
  }
  if (MODE === 'heap' || MODE === 'all') {
    const threads = await proxyThreads(proxy.url, jwt, STREAMS);
    await setKnobs(emulator.url, { reply: 'hello there', tool_calls: [], stream: { pace_ms: 0 } });
    await sequential(5);
    const before = await inspector.heapSnapshot();
    const rssBefore = await rssBytes(proxy.pid);
    writeFileSync(path.join(WORK_DIR, 'idle.heapsnapshot'), before.text);
    await setKnobs(emulator.url, { reply: words(10), stream: { pace_ms: PACE_MS } });
    const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
    let open = 0;
    const runs = Promise.all(
      threads.map((thread) =>
        streamRun(onThread(target, proxy.url, thread).url, target, {
          agent,
          timeoutMs: 180_000,
          onEvent: (type) => {
            if (type === 'start') open++;
          },
        }),
      ),
    );
    // While they open: RSS and the V8 heap every 100 ms (a heap snapshot here would
    // itself add hundreds of MiB of RSS: workerd builds it in memory).
    const ramp = [];
    for (let i = 0; i < 600 && open < STREAMS; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const heap = await inspector.send('Runtime.getHeapUsage');
      const rss = ((await rssBytes(proxy.pid)) - rssBefore) / 1048576;
      ramp.push(
        `${open}:${rss.toFixed(0)}(${(heap.usedSize / 1048576).toFixed(0)}/${(heap.totalSize / 1048576).toFixed(0)})`,
      );
    }
    console.log(`Ramp (runs open: RSS growth MiB (V8 heap used/total MiB)), every 100 ms: ${ramp.join(' ')}`);
    const rssAtOpen = await rssBytes(proxy.pid);
    // RSS keeps growing while the runs stream (the bench takes the largest sample), so
    // the snapshot is taken PROFILE_HOLD_MS after all are open.
    const samples = [];
    for (let t = 0; t < HOLD_MS; t += 500) {
      await new Promise((r) => setTimeout(r, 500));
      const heap = await inspector.send('Runtime.getHeapUsage');
      const rss = ((await rssBytes(proxy.pid)) - rssBefore) / 1024 / open;
      samples.push(
        `${rss.toFixed(0)} (${(heap.usedSize / 1048576).toFixed(0)}/${(heap.totalSize / 1048576).toFixed(0)})`,
      );
    }
    console.log(
      `RSS per open run: ${((rssAtOpen - rssBefore) / 1024 / open).toFixed(1)} KiB when all open, then every 0.5 s ` +
        `(KiB per run; V8 heap used/total MiB): ${samples.join(' ')}`,
    );
    const rssOpen = await rssBytes(proxy.pid);
    const during = await inspector.heapSnapshot();
    writeFileSync(path.join(WORK_DIR, 'open.heapsnapshot'), during.text);
    console.log(
      `\nHeap: ${open}/${STREAMS} runs open; RSS ${((rssOpen - rssBefore) / 1024 / open).toFixed(1)} KiB per open run; ` +
        `JS heap (snapshot, after GC) ${((during.total - before.total) / 1024 / open).toFixed(1)} KiB per open run`,
    );
    console.log(heapSummary(before.nodes, during.nodes, { top: TOP, per: open }));
    await setKnobs(emulator.url, { stream: { pace_ms: 0 } });
    await runs;
    agent.destroy();
  }
} finally {
  inspector.close();
  await proxy.stop();
  await emulator.stop();
  removeStorageDirs();
}
process.exit(0);
