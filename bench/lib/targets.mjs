// The two Workers the bench serves with workerd: the floor (bench/passthrough.js) and
// the proxy (the wrangler bundle). Each can be served more than once, in front of
// different upstreams (the SSE section puts a second pair behind a TCP tap).
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EMULATOR_EMAIL, EMULATOR_PASSWORD } from '../../scripts/lib/emulator.mjs';
import { freePort } from '../../scripts/lib/procs.mjs';
import { serveBundle, serveWorker } from '../../scripts/lib/worker.mjs';
import { writeDelayModule } from './do-delay.mjs';

/** @type {Set<string>} Durable Object storage directories, removed at the end or on abort. */
const storageDirs = new Set();
export function removeStorageDirs() {
  for (const dir of storageDirs) rmSync(dir, { recursive: true, force: true });
  storageDirs.clear();
}

/**
 * @typedef {{ compatibilityDate: string, compatibilityFlags: string[] }} Compat
 * @typedef {Awaited<ReturnType<typeof serveWorker>>} Served
 * @typedef {{ bare: Served, proxy: Served }} Pair
 */

/**
 * Serves bench/passthrough.js (fetch upstream, `new Response(r.body, r)`).
 * @param {{ service: string, upstream: string, compat: Compat, workDir: string }} opts
 * @returns {Promise<Served>}
 */
export async function serveBare(opts) {
  return serveWorker(
    {
      service: opts.service,
      port: await freePort(),
      modules: [{ name: 'passthrough.js', type: 'esModule', file: path.resolve('bench/passthrough.js') }],
      ...opts.compat,
      text: { UPSTREAM: opts.upstream },
    },
    opts.workDir,
  );
}

/**
 * Serves the already bundled proxy (`outdir`) against `upstream`, with the bench's
 * secrets and a fresh Durable Object storage directory. `doDelayMs` > 0 serves it behind
 * the bench's wrapper that delays every Durable Object call that long (lib/do-delay.mjs).
 * @param {{ service: string, upstream: string, compat: Compat, workDir: string, outdir: string,
 *   decl: import('../../scripts/lib/workerd-config.mjs').WorkerDecl, tenants: Record<string, unknown>,
 *   doDelayMs?: number, inspectorPort?: number }} opts
 * @returns {Promise<Served>}
 */
export async function serveProxy(opts) {
  // On disk by default, like the original bench; BENCH_DO_STORAGE_DIR=/dev/shm takes the
  // disk's sync latency out of every Durable Object write (see README).
  const parent = process.env.BENCH_DO_STORAGE_DIR || os.tmpdir();
  const storageDir = mkdtempSync(path.join(parent, 'epsimo-bench-do-'));
  storageDirs.add(storageDir);
  const delayMs = opts.doDelayMs ?? 0;
  const bundleMain = path.basename(opts.decl.main).replace(/\.[cm]?[jt]sx?$/, '.js');
  const main =
    delayMs > 0
      ? writeDelayModule(storageDir, bundleMain, [
          ...new Set(opts.decl.durableObjects.map((d) => d.className)),
        ])
      : undefined;
  return serveBundle({
    ...(main ? { main } : {}),
    ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
    service: opts.service,
    outdir: opts.outdir,
    decl: { ...opts.decl, ...opts.compat },
    bindings: {
      EPSIMO_BASE_URL: opts.upstream,
      EPSIMO_EMAIL: EMULATOR_EMAIL,
      EPSIMO_PASSWORD: EMULATOR_PASSWORD,
      TENANTS: JSON.stringify(opts.tenants),
      ...(delayMs > 0 ? { BENCH_DO_DELAY_MS: String(delayMs) } : {}),
    },
    storageDir,
    workDir: opts.workDir,
  });
}

/** workerd's resident set in bytes (VmRSS of /proc/<pid>/status), NaN if unreadable. */
export async function rssBytes(/** @type {number | undefined} */ pid) {
  if (!pid) return Number.NaN;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
