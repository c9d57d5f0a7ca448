// `npm run test:browser`: makes sure Debian's Chromium and playwright-core are there
// (installing them if not), then runs the browser specs under node:test, each with a
// hard time limit. Screenshots go to test-results/ (git-ignored).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIME_LIMIT_MS = 7 * 60_000;

function sh(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} failed (${result.status ?? result.signal})`);
}

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium).`);
  }
  // Debian's own build: no browser download from a test tool.
  sh('apt-get', ['update']);
  sh('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
}

function ensurePlaywright() {
  try {
    createRequire(import.meta.url).resolve('playwright-core');
  } catch {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    const version = pkg.devDependencies?.['playwright-core'];
    if (!version) throw new Error('playwright-core is not a devDependency');
    // The pinned version from package.json (playwright-core itself never downloads a browser).
    sh('npm', ['install', '--no-save', '--no-audit', '--no-fund', `playwright-core@${version}`]);
  }
}

ensureChromium();
ensurePlaywright();

// Each spec runs in a child of its own (not under `node --test`), so a SIGTERM reaches
// the code that started its stack and can stop it; one spec at a time.
const SPECS = ['test/browser/demo.spec.mjs', 'test/browser/restart.spec.mjs', 'test/browser/admin.spec.mjs'];
const deadline = Date.now() + TIME_LIMIT_MS;

function runSpec(spec) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test-reporter=spec', spec], { stdio: 'inherit' });
    const timer = setTimeout(
      () => {
        console.error(`browser tests took over ${TIME_LIMIT_MS / 1000} s: stopping ${spec}`);
        // SIGTERM lets the spec's after() hook stop the stack it started.
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      },
      Math.max(0, deadline - Date.now()),
    );
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

let failed = 0;
for (const spec of SPECS) if ((await runSpec(spec)) !== 0) failed += 1;
process.exit(failed === 0 ? 0 : 1);
