// `node bench/floor/object-floor.mjs` (under Node 22: `node_modules/.bin/node`): what one
// Durable Object instance costs in workerd memory, next to a stream the Worker makes itself.
// N streams (FLOOR_STREAMS, 1000) held open at once per mode; workerd's RSS per open stream
// = (largest RSS while they are open - RSS before) / N. Modes (FLOOR_MODES): worker, shared
// (one object for all), do (an object per stream), sql (the same, with SQLite used). It
// measured 93, 130, 350 and 280 KiB here: an object instance is about 225 KiB on its own,
// which is why a tenant's runs share 16 objects rather than one per thread. The fetch modes
// (fetchnative, fetchbyob, fetchdefault: see object-floor.js) relay an SSE upstream served
// by this process (FLOOR_EVENTS events FLOOR_PACE_MS apart, 12 and 1000 by default).
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort, installCleanup } from '../../scripts/lib/procs.mjs';
import { serveWorker } from '../../scripts/lib/worker.mjs';
import { rssBytes } from '../lib/targets.mjs';

const N = Number(process.env.FLOOR_STREAMS ?? 1000);
const EVENTS = Number(process.env.FLOOR_EVENTS ?? 12);
const PACE_MS = Number(process.env.FLOOR_PACE_MS ?? 1000);
const MODES = (process.env.FLOOR_MODES ?? 'worker,shared,do,sql,fetchnative,fetchbyob,fetchdefault').split(
  ',',
);
const WORK_DIR = path.resolve('.tmp/floor');
const pause = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));
installCleanup();

// An SSE upstream for the fetch* modes: n events ms apart on every request.
const upstream = http.createServer((req, res) => {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const n = Number(q.get('n') ?? 12);
  const ms = Number(q.get('ms') ?? 1000);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const tick = () => {
    if (i++ >= n) return res.end();
    res.write(`event: content\ndata: {"delta":"word${i}"}\n\n`);
    setTimeout(tick, ms);
  };
  res.write(': ping\n\n');
  setTimeout(tick, ms);
});
upstream.keepAliveTimeout = 60_000;
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => resolve(undefined)));
const address = upstream.address();
const upstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

for (const mode of MODES) {
  const storageDir = mkdtempSync(path.join(os.tmpdir(), 'epsimo-floor-'));
  const served = await serveWorker(
    {
      service: `floor${mode}`,
      port: await freePort(),
      modules: [
        { name: 'object-floor.js', type: 'esModule', file: path.resolve('bench/floor/object-floor.js') },
      ],
      compatibilityDate: '2026-11-01',
      compatibilityFlags: ['nodejs_compat'],
      text: { UPSTREAM: upstreamUrl },
      json: {},
      durableObjects: [{ binding: 'FLOOR', className: 'Floor', sqlite: true }],
      storageDir,
    },
    WORK_DIR,
    { probePath: '/' },
  );
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const get = (/** @type {string} */ p) =>
    new Promise((resolve) => {
      const req = http.get(`${served.url}${p}`, { agent }, (res) => {
        res.on('data', () => {});
        res.on('end', resolve);
        res.on('error', resolve);
      });
      req.on('error', resolve);
    });
  const query = `?mode=${mode}&n=${EVENTS}&ms=${PACE_MS}${mode === 'sql' ? '&writes=5' : ''}`;
  await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/warm${i}${query}`)));
  await pause(1000);
  const before = await rssBytes(served.pid);
  const all = Promise.all(Array.from({ length: N }, (_, i) => get(`/s${i}${query}`)));
  let max = 0;
  let early = 0;
  const samples = Math.floor(((EVENTS - 2) * PACE_MS) / 100);
  for (let i = 0; i < samples; i++) {
    await pause(100);
    max = Math.max(max, await rssBytes(served.pid));
    if (i === 20) early = max;
  }
  await all;
  const per = (/** @type {number} */ rss) => ((rss - before) / 1024 / N).toFixed(1);
  console.log(`${mode}: ${per(max)} KiB per open stream (${per(early)} after 2 s)`);
  agent.destroy();
  await served.stop();
  rmSync(storageDir, { recursive: true, force: true });
}
process.exit(0);
