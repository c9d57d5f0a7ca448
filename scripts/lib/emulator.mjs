// The project's upstream emulator (test/emulator/server.ts) as a Node child process on
// a free port of 127.0.0.1: the upstream of the bench and of the process tests.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildEmulator } from '../build-emulator.mjs';
import { freePort, startProcess } from './procs.mjs';

/** The emulator's seeded account (test/emulator/canaries.ts): what the Worker logs in as. */
export const EMULATOR_EMAIL = 'ops@edge-canary.example';
export const EMULATOR_PASSWORD = 'emulator-password';

/**
 * Starts the emulator on a free port, with its rate limit out of the way (the callers
 * measure or test the Worker, not the emulator's 429s). Its output goes to
 * `<logDir>/emulator.log`.
 * @param {{ logDir: string, script?: string, knobs?: Record<string, unknown> }} opts
 *   `script`: an already built bundle (default: build one now); `knobs`: the first
 *   `POST /__emulator/config` (default: the rate limit lifted)
 * @returns {Promise<{ url: string, stop: () => Promise<void>, exited: Promise<Error> }>}
 */
export async function startEmulator(opts) {
  mkdirSync(opts.logDir, { recursive: true });
  const script = opts.script ?? buildEmulator('node');
  const port = await freePort();
  const proc = await startProcess('emulator', process.execPath, [script, '--serve', '--port', String(port)], {
    ready: /emulator listening on (http:\/\/\S+)/,
    logFile: path.join(opts.logDir, 'emulator.log'),
    timeoutMs: 15_000,
  });
  const url = (proc.match?.[1] ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  const res = await fetch(`${url}/__emulator/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(opts.knobs ?? { rate_limit_per_minute: 100_000_000 }),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) {
    await proc.stop();
    throw new Error(`emulator config: HTTP ${res.status} ${await res.text()}`);
  }
  return { url, stop: proc.stop, exited: proc.exited };
}
