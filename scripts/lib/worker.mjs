// Builds a Worker the production way (`wrangler deploy --dry-run --outdir`) and serves
// it with `workerd serve` from a generated capnp config (the bench and test/process/).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, runCommand, startProcess, waitForHttp } from './procs.mjs';
import { collectModules, renderCapnp, splitVars } from './workerd-config.mjs';

/** The workerd binary wrangler itself uses, so what is served runs on the runtime wrangler would. */
export function workerdBinary() {
  for (const candidate of [
    'node_modules/wrangler/node_modules/workerd/bin/workerd',
    'node_modules/workerd/bin/workerd',
  ]) {
    const abs = path.resolve(candidate);
    if (existsSync(abs)) return abs;
  }
  throw new Error('no workerd binary in node_modules (run npm install)');
}

/** Wrangler needs Node >= 22.12; npm scripts already run under the repo's Node 22. */
function nodeForWrangler() {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return process.execPath;
  const local = path.resolve('node_modules/.bin/node');
  if (existsSync(local)) return local;
  throw new Error(
    `wrangler needs Node >= 22.12 (this is ${process.version}); run it through npm run (npm run bench, npm run test:process)`,
  );
}

/**
 * Bundles a Worker with `wrangler deploy --dry-run --outdir` (no network: metrics off).
 * @param {string} configPath wrangler.toml
 * @param {string} outdir emptied first
 * @param {number} timeoutMs
 */
export async function bundleWorker(configPath, outdir, timeoutMs = 120_000) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const wrangler = path.resolve('node_modules/wrangler/bin/wrangler.js');
  const result = await runCommand(
    nodeForWrangler(),
    [wrangler, 'deploy', '--dry-run', '--config', configPath, '--outdir', outdir],
    {
      timeoutMs,
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_HIDE_BANNER: 'true',
        NO_COLOR: '1',
        FORCE_COLOR: '0',
      },
    },
  );
  if (result.code !== 0) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
    const lines = `${result.stdout}\n${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
    const errors = lines.filter((l) => /ERROR|✘/.test(l)).map((l) => l.replace(/^[\s✘]*(\[ERROR\])?\s*/, ''));
    const detail = lines
      .map((l) => l.trimEnd())
      .filter(Boolean)
      .slice(-15)
      .join('\n   ');
    const summary = errors.join(' ') || (result.timedOut ? 'timed out' : `exit code ${result.code}`);
    throw new Error(`wrangler deploy --dry-run failed: ${summary}\n   ${detail}`);
  }
}

/**
 * Writes the capnp config for `spec` into `dir` and starts `workerd serve` on it.
 * Resolves once the socket answers HTTP.
 * @param {import('./workerd-config.mjs').WorkerSpec} spec
 * @param {string} dir holds the config and the log
 * @param {{ probePath?: string, timeoutMs?: number, inspectorPort?: number }} [opts]
 *   `inspectorPort`: workerd's V8 inspector on 127.0.0.1 (the bench's profiler uses it)
 */
export async function serveWorker(spec, dir, opts = {}) {
  mkdirSync(dir, { recursive: true });
  if (spec.storageDir) mkdirSync(spec.storageDir, { recursive: true });
  const configFile = path.join(dir, `${spec.service}.capnp`);
  writeFileSync(configFile, renderCapnp(spec, dir));
  const logFile = path.join(dir, `${spec.service}.workerd.log`);
  // workerd prints nothing when it is up, so readiness is "the socket answers".
  // --verbose makes uncaught exceptions in the Worker show up in the log.
  const inspector = opts.inspectorPort ? [`--inspector-addr=127.0.0.1:${opts.inspectorPort}`] : [];
  const proc = await startProcess(
    spec.service,
    workerdBinary(),
    ['serve', configFile, '--verbose', ...inspector],
    { logFile },
  );
  const url = `http://127.0.0.1:${spec.port}`;
  try {
    await Promise.race([
      waitForHttp(`${url}${opts.probePath ?? '/'}`, opts.timeoutMs ?? 20_000),
      proc.exited.then((err) => Promise.reject(err)),
    ]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, pid: proc.child.pid, logFile, configFile, stop: proc.stop, exited: proc.exited };
}

/**
 * Serves a bundle written by {@link bundleWorker} to `outdir` as `decl` (its wrangler
 * config) declares it: compatibility, `[vars]`, Durable Objects and D1 databases (a local
 * stand-in, migrated at start; state of both in `storageDir`), on a free port. `bindings`
 * are text bindings on top (secrets, var overrides). `main`, if given, is served as the main
 * module in front of the bundle's (which it imports): the bench's Durable Object delay wraps
 * the Worker so.
 * @param {{ service: string, outdir: string, decl: import('./workerd-config.mjs').WorkerDecl,
 *   bindings: Record<string, string>, storageDir: string, workDir: string, probePath?: string,
 *   main?: import('./workerd-config.mjs').ModuleDecl, inspectorPort?: number }} opts
 */
export async function serveBundle(opts) {
  const { text, json } = splitVars(opts.decl.vars);
  for (const k of Object.keys(opts.bindings)) delete json[k];
  return serveWorker(
    {
      service: opts.service,
      port: await freePort(),
      modules: [...(opts.main ? [opts.main] : []), ...collectModules(opts.outdir, opts.decl.main)],
      compatibilityDate: opts.decl.compatibilityDate,
      compatibilityFlags: opts.decl.compatibilityFlags,
      text: { ...text, ...opts.bindings },
      json,
      durableObjects: opts.decl.durableObjects,
      d1Databases: opts.decl.d1Databases,
      storageDir: opts.storageDir,
    },
    opts.workDir,
    {
      probePath: opts.probePath ?? '/healthz',
      ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
    },
  );
}
