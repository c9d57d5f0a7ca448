// `node bench/floor/read-floor.mjs` (under Node 22: `node_modules/.bin/node`): what each layer
// of the read path costs in throughput under `workerd serve`, in front of the emulator, as a
// ratio to the bare pass-through measured in the same run (modes: see read-floor.js;
// FLOOR_MODES, FLOOR_ROUNDS (2), FLOOR_SECONDS (4) a wrk run, 16 connections). The proxy's
// own row is `npm run bench`'s `GET /v1/threads/{id}`: this says how much of its gap to the
// bare pass-through the framework and the access log take before any gateway work.
import path from 'node:path';
import { build } from 'esbuild';
import { startEmulator } from '../../scripts/lib/emulator.mjs';
import { freePort, installCleanup } from '../../scripts/lib/procs.mjs';
import { serveWorker } from '../../scripts/lib/worker.mjs';
import { upstreamFixtures } from '../lib/emulator.mjs';
import { ensureWrk, runWrk } from '../lib/wrk.mjs';
import { BENCH_TENANT } from '../scenarios.mjs';

const MODES = (process.env.FLOOR_MODES ?? 'bare,js,log,hono,stack,full').split(',');
const ROUNDS = Number(process.env.FLOOR_ROUNDS ?? 2);
const SECONDS = Number(process.env.FLOOR_SECONDS ?? 4);
const WORK_DIR = path.resolve('.tmp/floor');
installCleanup();

await ensureWrk();
const bundle = path.join(WORK_DIR, 'read-floor.bundle.js');
await build({
  entryPoints: [path.resolve('bench/floor/read-floor.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  outfile: bundle,
  external: ['cloudflare:*'],
});
const emulator = await startEmulator({ logDir: WORK_DIR });
const up = await upstreamFixtures(emulator.url, BENCH_TENANT.project_id);
const served = await serveWorker(
  {
    service: 'readfloor',
    port: await freePort(),
    modules: [{ name: 'read-floor.bundle.js', type: 'esModule', file: bundle }],
    compatibilityDate: '2026-11-01',
    compatibilityFlags: ['nodejs_compat'],
    text: { UPSTREAM: emulator.url },
    json: {},
  },
  WORK_DIR,
);

/** @type {Record<string, number[]>} */
const rps = Object.fromEntries(MODES.map((m) => [m, []]));
// Rounds interleave the modes, so a slow moment of the machine hits them all.
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES) {
    const r = await runWrk({
      url: `${served.url}/threads/${up.threadId}?m=${mode}`,
      method: 'GET',
      headers: { authorization: `Bearer ${up.projectToken}` },
      seconds: SECONDS,
      scriptFile: path.join(WORK_DIR, 'read-floor.lua'),
    });
    rps[mode]?.push(r.rps);
  }
}
const mean = (/** @type {number[]} */ xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const base = mean(rps.bare ?? [Number.NaN]);
console.log(`${ROUNDS} rounds of ${SECONDS} s wrk runs a mode; rps mean, ratio to bare`);
for (const mode of MODES) {
  const m = mean(rps[mode] ?? []);
  console.log(`${mode.padEnd(6)} ${String(Math.round(m)).padStart(6)} rps  ${(m / base).toFixed(2)}x`);
}
await served.stop();
await emulator.stop();
process.exit(0);
