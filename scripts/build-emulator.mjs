// Bundles the upstream emulator (test/emulator/) for the two places it runs:
// inside workerd as an auxiliary worker (vitest) and as a Node server (npm start, the
// bench, the process tests).
import { buildSync } from 'esbuild';

/**
 * @param {'worker' | 'node'} target
 * @param {string} [outfile] default `.tmp/emulator-worker.js` or `.tmp/emulator-server.mjs`
 * @returns {string} the bundle's path
 */
export function buildEmulator(target, outfile = defaultOutfile(target)) {
  buildSync({
    entryPoints: [target === 'worker' ? 'test/emulator/worker.ts' : 'test/emulator/server.ts'],
    bundle: true,
    format: 'esm',
    platform: target === 'worker' ? 'neutral' : 'node',
    target: 'es2023',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** @param {'worker' | 'node'} target */
function defaultOutfile(target) {
  return target === 'worker' ? '.tmp/emulator-worker.js' : '.tmp/emulator-server.mjs';
}
