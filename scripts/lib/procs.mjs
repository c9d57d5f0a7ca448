// Child processes of the bench and the process tests (test/process/): every one is
// tracked so that neither leaves a workerd or an emulator behind, whether it ends
// normally, on Ctrl-C or on an error.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();

/** Sends SIGKILL to every child still running (synchronous, safe in an 'exit' handler). */
export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

let exitHooked = false;
/**
 * Kills every child when this process exits or is told to stop (SIGINT, SIGTERM,
 * SIGHUP), and nothing else: a test runner keeps its own handling of errors.
 * @param {{ label?: string, onAbort?: () => void }} [opts] `onAbort` runs before exiting on a signal
 */
export function killChildrenOnExit(opts = {}) {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAll);
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(signal, () => {
      console.error(`\n${opts.label ?? 'bench'}: ${signal}, stopping children`);
      opts.onAbort?.();
      killAll();
      process.exit(130);
    });
  }
}

let installed = false;
/**
 * Installs the exit, signal and error handlers once.
 * @param {() => void} [onAbort] called before exiting on a signal or an uncaught error
 */
export function installCleanup(onAbort) {
  if (installed) return;
  installed = true;
  killChildrenOnExit(onAbort ? { onAbort } : {});
  const fatal = (/** @type {unknown} */ err) => {
    console.error('bench: fatal error:', err);
    onAbort?.();
    killAll();
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

/**
 * @typedef {{
 *   child: import('node:child_process').ChildProcess, match: RegExpMatchArray | null,
 *   stop: () => Promise<void>, exited: Promise<Error>, tail: () => string,
 * }} Started
 */

/**
 * Starts a long-running child and logs its output to a file. Resolves once a line of
 * its output matches `ready` (at once when there is no `ready`); rejects if it exits
 * first or `timeoutMs` passes. `exited` resolves (with a descriptive error) when it ends.
 * @param {string} label
 * @param {string} command
 * @param {string[]} args
 * @param {{ ready?: RegExp, logFile: string, timeoutMs?: number, env?: NodeJS.ProcessEnv }} opts
 * @returns {Promise<Started>}
 */
export function startProcess(label, command, args, opts) {
  const log = createWriteStream(opts.logFile);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  children.add(child);
  let buffer = '';
  const tail = () => buffer.trim().split('\n').slice(-8).join('\n   ');
  /** @type {Promise<Error>} */
  const exited = new Promise((resolve) => {
    child.on('error', (err) => resolve(new Error(`${label} could not start: ${err.message}`)));
    child.on('exit', (code, signal) => {
      children.delete(child);
      log.end();
      const lines = buffer.trim().split('\n');
      const cause = lines.find((l) => /error|uncaught|exception/i.test(l)) ?? lines.at(-1) ?? '';
      resolve(new Error(`${label} exited (${signal ?? `code ${code}`}): ${cause.trim()}\n   ${tail()}`));
    });
  });
  const stop = () => stopChild(child);
  return new Promise((resolve, reject) => {
    let settled = false;
    const timeoutMs = opts.timeoutMs ?? 15000;
    const timer = setTimeout(() => {
      fail(new Error(`${label} did not become ready in ${timeoutMs} ms (log: ${opts.logFile})`));
    }, timeoutMs);
    /** @param {Error} err */
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      reject(err);
    };
    /** @param {RegExpMatchArray | null} match */
    const ok = (match) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ child, match, stop, exited, tail });
    };
    const onData = (/** @type {Buffer} */ chunk) => {
      log.write(chunk);
      buffer += chunk.toString('utf8');
      if (buffer.length > 65536) buffer = buffer.slice(-8192);
      const match = opts.ready ? buffer.match(opts.ready) : null;
      if (match) ok(match);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    if (!opts.ready) child.once('spawn', () => ok(null));
    exited.then(fail);
  });
}

/**
 * Terminates a child: SIGTERM, then SIGKILL after 2 s.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Runs a command to completion with a time limit, collecting its output.
 * @param {string} command
 * @param {string[]} args
 * @param {{ timeoutMs: number, env?: NodeJS.ProcessEnv, cwd?: string }} opts
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string, timedOut: boolean }>}
 */
export function runCommand(command, args, opts) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** @returns {Promise<number>} a TCP port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Waits until an HTTP endpoint answers at all (any status).
 * @param {string} url
 * @param {number} timeoutMs
 */
export async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms (${last})`);
}
