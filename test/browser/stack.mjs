// Starts the `npm start` stack (emulator + `wrangler dev`) on free ports with a fresh
// Durable Object state, for the browser tests, and stops all of it again.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const READY = 'EDGE_READY ';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs scripts/start.mjs in its own process group (with `state` as WRANGLER_PERSIST_TO, else
 * a fresh folder) and resolves once it prints its
 * `EDGE_READY {...}` line, with `{ worker, emulator, token, demo, chat, stop() }`. `stop()`
 * ends the whole group (start.mjs, the emulator, wrangler and workerd): SIGTERM,
 * then SIGKILL after a grace period. Rejects (after stopping) when not ready in time.
 */
export async function startStack({ readyTimeoutMs = 120_000, log = () => {}, state: given } = {}) {
  const [port, emulatorPort] = [await freePort(), await freePort()];
  // A given state folder is the caller's to keep (e.g. to restart on it); a fresh one is ours.
  const state = given ?? (await mkdtemp(join(tmpdir(), 'edge-browser-state-')));
  const child = spawn(process.execPath, ['scripts/start.mjs'], {
    env: {
      ...process.env,
      PORT: String(port),
      EMULATOR_PORT: String(emulatorPort),
      WRANGLER_PERSIST_TO: state,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  // Last resort if this process ends without calling stop(): on exit, or when told to stop.
  const onExit = () => killGroup('SIGKILL');
  const onSignal = (signal) => {
    onExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', onExit);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    // start.mjs exits at once; give its children a moment, then make sure.
    await new Promise((resolve) => setTimeout(resolve, 500));
    killGroup('SIGKILL');
    process.removeListener('exit', onExit);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    if (!given) await rm(state, { recursive: true, force: true });
  }

  const tail = [];
  const remember = (line) => {
    log(line);
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  createInterface({ input: child.stderr }).on('line', remember);
  const lines = createInterface({ input: child.stdout });
  try {
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready in ${readyTimeoutMs} ms`)), readyTimeoutMs);
      lines.on('line', (line) => {
        remember(line);
        if (line.startsWith(READY)) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(READY.length)));
        }
      });
      exited.then((code) => reject(new Error(`start.mjs exited early (code ${code})`)));
    });
    return { ...ready, stop };
  } catch (error) {
    await stop();
    throw new Error(`${error.message}\n--- last output ---\n${tail.join('\n')}`);
  }
}
