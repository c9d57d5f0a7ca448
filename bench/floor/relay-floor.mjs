// `node bench/floor/relay-floor.mjs` (under Node 22: `node_modules/.bin/node`): what each way
// of relaying an SSE stream through workerd adds per event, over reading the upstream
// directly: natively, through a JS stream, through a Durable Object (its RPC stream, a JS
// stream it returns, an IdentityTransformStream, its fetch(), a writable the Worker passes
// in, the project's relay). The upstream is a Node server in this process; lag = the client's arrival time of
// an event - the moment the server wrote it (one clock). Modes: see relay-floor.js.

import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { build } from 'esbuild';
import { freePort, installCleanup } from '../../scripts/lib/procs.mjs';
import { serveWorker } from '../../scripts/lib/worker.mjs';

const RUNS = Number(process.env.FLOOR_RUNS ?? 10);
const EVENTS = Number(process.env.FLOOR_EVENTS ?? 50);
const PACE = Number(process.env.FLOOR_PACE_MS ?? 20);
const MODES = (
  process.env.FLOOR_MODES ??
  'direct,bare,worker-js,worker-its,worker-pipe,do-native,do-js,do-its,do-fetch,do-writable,do-pipe,do-relay,do-js-wrap,do-byob,do-bytes'
).split(',');
const WORK_DIR = path.resolve('.tmp/floor');
installCleanup();

// `do-relay` runs the project's own relay (src/stream/relay.ts) and frame format.
const relayLib = path.join(WORK_DIR, 'relay-lib.js');
await build({
  stdin: {
    contents:
      "export { relayInto } from './src/stream/relay';\nexport { formatEvent } from './src/stream/events';",
    resolveDir: path.resolve('.'),
    loader: 'ts',
  },
  bundle: true,
  platform: 'browser',
  format: 'esm',
  external: ['cloudflare:*'],
  outfile: relayLib,
  logLevel: 'warning',
});

/** @type {Map<number, number>} sent times by event index, per stream id */
const sent = new Map();
let streamSeq = 0;
const upstream = http.createServer((req, res) => {
  const id = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('id'));
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const tick = () => {
    if (i >= EVENTS) {
      res.write('event: done\ndata: {}\n\n');
      return res.end();
    }
    sent.set(id * 10_000 + i, performance.now());
    res.write(`event: content\ndata: {"delta":"word${i}","i":${i}}\n\n`);
    i++;
    setTimeout(tick, PACE);
  };
  tick();
});
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => resolve(undefined)));
const address = upstream.address();
const upstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/sse`;

const served = await serveWorker(
  {
    service: 'relayfloor',
    port: await freePort(),
    modules: [
      { name: 'relay-floor.js', type: 'esModule', file: path.resolve('bench/floor/relay-floor.js') },
      { name: 'relay-lib.js', type: 'esModule', file: relayLib },
    ],
    compatibilityDate: '2026-11-01',
    compatibilityFlags: ['nodejs_compat'],
    text: {},
    json: {},
    durableObjects: [{ binding: 'RELAY', className: 'Relay', sqlite: true }],
    storageDir: mkdtempSync(path.join(os.tmpdir(), 'epsimo-relay-floor-')),
  },
  WORK_DIR,
  { probePath: '/' },
);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
/** One stream; returns the lags of its events after the first, in ms. */
function one(/** @type {string} */ mode) {
  const id = ++streamSeq;
  const u = `${upstreamUrl}?id=${id}`;
  const url = mode === 'direct' ? u : `${served.url}/r?mode=${mode}&u=${encodeURIComponent(u)}`;
  return new Promise((resolve, reject) => {
    /** @type {number[]} */
    const lags = [];
    http
      .get(url, { agent }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          const now = performance.now();
          buf += chunk;
          for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
            const frame = buf.slice(0, at);
            buf = buf.slice(at + 2);
            const m = frame.match(/word(\d+)/);
            if (!m) continue;
            const i = Number(m[1]);
            const t = sent.get(id * 10_000 + i);
            if (i > 0 && t !== undefined) lags.push(now - t);
          }
        });
        res.on('end', () => resolve(lags));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const pct = (/** @type {number[]} */ xs, /** @type {number} */ p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
/** @type {Record<string, number[]>} */
const lags = Object.fromEntries(MODES.map((m) => [m, []]));
for (const mode of MODES) await one(mode); // warm-up
for (let r = 0; r < RUNS; r++) {
  for (const mode of MODES) lags[mode]?.push(...(await one(mode)));
}
const base = pct(lags.direct ?? [], 50);
console.log(`${RUNS} runs x ${EVENTS} events, pace ${PACE} ms; lag p50/p99, added p50 over direct`);
for (const mode of MODES) {
  const xs = lags[mode] ?? [];
  const p50 = pct(xs, 50);
  console.log(
    `${mode.padEnd(12)} p50 ${p50.toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms  added ${(p50 - base).toFixed(3)} ms  (${xs.length})`,
  );
}
await served.stop();
upstream.close();
process.exit(0);
