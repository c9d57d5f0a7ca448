// Bundles the upstream emulator (test/emulator/) for the two places it runs:
// inside workerd as an auxiliary worker (tests) and as a Node server (npm start, bench).
import { buildSync } from 'esbuild';

/** @param {'worker' | 'node'} target @returns {string} the bundle's path */
export function buildEmulator(target) {
  const outfile = target === 'worker' ? '.tmp/emulator-worker.js' : '.tmp/emulator-server.mjs';
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
