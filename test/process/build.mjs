// The one build of a `npm run test:process` run: the Worker bundled the production way
// (`wrangler deploy --dry-run --outdir`) and the emulator bundled for Node. A module of
// its own so that run.mjs can build without taking on the harness's exit hooks.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildEmulator } from '../../scripts/build-emulator.mjs';
import { bundleWorker } from '../../scripts/lib/worker.mjs';

/** Where builds, logs and generated configs go (git-ignored); one folder per stack. */
export const PROCESS_DIR = path.resolve('.tmp/process');
/** Set by run.mjs: the folder whose build.json lists an already built Worker and emulator. */
export const PREBUILT_ENV = 'EDGE_PROCESS_PREBUILT';
export const WRANGLER_CONFIG = 'wrangler.toml';

/** @typedef {{ outdir: string, emulatorScript: string }} Build */

/**
 * Bundles the Worker and builds the emulator into `dir`, and writes `dir/build.json` so
 * that test files can reuse the build.
 * @param {string} [dir]
 * @returns {Promise<Build>}
 */
export async function build(dir = PROCESS_DIR) {
  mkdirSync(dir, { recursive: true });
  const outdir = path.join(dir, 'bundle');
  await bundleWorker(WRANGLER_CONFIG, outdir);
  const emulatorScript = path.resolve(buildEmulator('node', path.join(dir, 'emulator-server.mjs')));
  const built = { outdir, emulatorScript };
  writeFileSync(path.join(dir, 'build.json'), JSON.stringify(built));
  return built;
}
