// `npm run test:process`: builds the Worker (wrangler deploy --dry-run) and the
// emulator once, then runs test/process/*.test.mjs with Node's test runner, one file at
// a time, each starting its own emulator + `workerd serve` on free ports of 127.0.0.1.
// The runner and everything it starts live in one process group, killed at the end
// whatever happened, and the whole script has a hard time limit.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { build, PREBUILT_ENV, PROCESS_DIR } from './build.mjs';

const TIME_LIMIT_MS = 240_000;
/** One test (a `test()` of a file) may take this long before the runner fails it. */
const TEST_TIMEOUT_MS = 30_000;
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);

const here = path.dirname(new URL(import.meta.url).pathname);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => path.join('test/process', f));

process.stdout.write('test:process: bundling the Worker and building the emulator ... ');
await build(PROCESS_DIR);
console.log(`done (${seconds()} s)`);

// Its own process group (detached): one kill reaches the test files and their workerds.
const child = spawn(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    '--test-reporter=spec',
    ...process.argv.slice(2),
    ...files,
  ],
  { stdio: 'inherit', detached: true, env: { ...process.env, [PREBUILT_ENV]: PROCESS_DIR } },
);

/** @param {NodeJS.Signals} signal */
const killGroup = (signal) => {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
};
const limit = setTimeout(
  () => {
    console.error(`test:process: over ${TIME_LIMIT_MS / 1000} s, stopping the tests`);
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 5000).unref();
  },
  TIME_LIMIT_MS - (Date.now() - started),
);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(signal, () => {
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 2000).unref();
  });
}
/** Whether any process of the group is still there. */
const groupAlive = () => {
  try {
    if (child.pid) process.kill(-child.pid, 0);
    return Boolean(child.pid);
  } catch {
    return false;
  }
};
child.on('exit', async (code, signal) => {
  clearTimeout(limit);
  // Test files still stopping their stacks get a moment; then whatever is left goes.
  for (let i = 0; i < 20 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 100));
  killGroup('SIGKILL');
  console.log(`test:process: ${code === 0 ? 'passed' : 'FAILED'} in ${seconds()} s`);
  process.exit(code ?? (signal ? 1 : 0));
});
