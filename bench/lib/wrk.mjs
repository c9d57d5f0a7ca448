// wrk: throughput and the loaded p50. Its p99 through workerd is an artefact of
// back-to-back requests (runtime-facts.md), so it is recorded but not shown.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { runCommand } from '../../scripts/lib/procs.mjs';

/** Makes sure `wrk` is on PATH, installing it with apt-get when running as root. */
export async function ensureWrk() {
  if (hasWrk()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'wrk is not installed and the bench is not running as root: install it (apt-get install wrk)',
    );
  }
  console.log('bench: wrk not found, installing it with apt-get (a minute at most)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'wrk']]) {
    const r = await runCommand('apt-get', args, { timeoutMs: 300_000, env });
    if (r.code !== 0) throw new Error(`apt-get ${args.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
  }
  if (!hasWrk()) throw new Error('apt-get installed wrk but it is still not on PATH');
}

function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // `wrk --version` exits 1 after printing its version; only ENOENT means "missing".
    return !(err && typeof err === 'object' && 'code' in err && err.code === 'ENOENT');
  }
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** @param {string} text like "1.23ms" @returns {number} milliseconds */
export function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * UNIT_MS[/** @type {keyof typeof UNIT_MS} */ (m[2])];
}

/**
 * @typedef {{ rps: number, p50: number, p90: number, p99: number, requests: number,
 *   non2xx: number, socketErrors: number }} WrkResult latencies in ms
 */

/** @param {string} out wrk's stdout with --latency @returns {WrkResult} */
export function parseWrk(out) {
  const pct = (/** @type {string} */ p) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out);
    return m?.[1] ? parseDuration(m[1]) : Number.NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { rps, p50: pct('50'), p90: pct('90'), p99: pct('99'), requests, non2xx, socketErrors };
}

/**
 * Runs wrk against one request. Non-GET requests and bodies go through a Lua script.
 * @param {{ url: string, method: string, headers: Record<string, string>, body?: string,
 *   seconds: number, threads?: number, connections?: number, scriptFile: string }} opts
 * @returns {Promise<WrkResult & { raw: string }>}
 */
export async function runWrk(opts) {
  const args = [
    `-t${opts.threads ?? 2}`,
    `-c${opts.connections ?? 16}`,
    `-d${opts.seconds}s`,
    '--latency',
    '--timeout',
    '5s',
  ];
  if (opts.method !== 'GET' || opts.body !== undefined) {
    const lua = [
      `wrk.method = ${JSON.stringify(opts.method)}`,
      opts.body === undefined ? '' : `wrk.body = ${JSON.stringify(opts.body)}`,
      ...Object.entries(opts.headers).map(
        ([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`,
      ),
    ];
    writeFileSync(opts.scriptFile, `${lua.join('\n')}\n`);
    args.push('-s', opts.scriptFile);
  } else {
    for (const [k, v] of Object.entries(opts.headers)) args.push('-H', `${k}: ${v}`);
  }
  args.push(opts.url);
  const r = await runCommand('wrk', args, { timeoutMs: (opts.seconds + 15) * 1000 });
  if (r.code !== 0 || r.timedOut) {
    throw new Error(
      `wrk failed${r.timedOut ? ' (timed out)' : ''}: ${(r.stderr || r.stdout).trim().slice(-500)}`,
    );
  }
  const parsed = parseWrk(r.stdout);
  if (!Number.isFinite(parsed.rps)) throw new Error(`could not parse wrk output:\n${r.stdout}`);
  return { ...parsed, raw: r.stdout };
}
