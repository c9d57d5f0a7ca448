// `npm run lint:openapi` (part of `npm test`): builds the app for Node, generates
// /openapi.json exactly as the Worker serves it, and lints it with @redocly/cli's
// recommended ruleset (redocly.yaml). Any problem not listed, with its reason, in
// .redocly.lint-ignore.yaml fails the run. Offline: redocly's telemetry and update check
// are switched off, and scripts/no-network.mjs fails the run if it reaches for the network.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const OUT = '.tmp/openapi.json';
const BUNDLE = '.tmp/openapi-app.mjs';
const NETWORK_LOG = resolve('.tmp/openapi-lint-network.log');

mkdirSync('.tmp', { recursive: true });

// The app imports Durable Object classes from `cloudflare:workers`; none of them runs
// when the document is generated, so empty stand-ins are enough outside workerd.
await build({
  entryPoints: ['src/app.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'es2023',
  outfile: BUNDLE,
  logLevel: 'error',
  plugins: [
    {
      name: 'cloudflare-stubs',
      setup(b) {
        b.onResolve({ filter: /^cloudflare:/ }, (args) => ({
          path: args.path,
          namespace: 'cloudflare-stub',
        }));
        b.onLoad({ filter: /.*/, namespace: 'cloudflare-stub' }, () => ({
          contents:
            'export class DurableObject {}\nexport class WorkerEntrypoint {}\nexport const env = {};\n',
          loader: 'js',
        }));
      },
    },
  ],
});

const { createApp } = await import(pathToFileURL(resolve(BUNDLE)).href);
// A valid configuration is needed to pass the config gate; nothing here is contacted.
const bindings = {
  EPSIMO_BASE_URL: 'https://api.epsimoagents.com',
  EPSIMO_EMAIL: 'lint@example.invalid',
  EPSIMO_PASSWORD: 'not-a-password',
  TENANTS: JSON.stringify({
    lint: { project_id: 'proj_lint', session_secret: 'x'.repeat(40), assistants: ['asst_lint'] },
  }),
};
const log = console.log;
console.log = () => {}; // the access log line of the one request below
const res = await createApp().request('/openapi.json', {}, bindings);
console.log = log;
if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
writeFileSync(OUT, `${JSON.stringify(await res.json(), null, 2)}\n`);

rmSync(NETWORK_LOG, { force: true });
const lint = spawnSync(
  process.execPath,
  [
    '--import',
    './scripts/no-network.mjs',
    'node_modules/@redocly/cli/bin/cli.js',
    'lint',
    OUT,
    '--config',
    'redocly.yaml',
    '--format',
    'json',
  ],
  {
    encoding: 'utf8',
    env: {
      ...process.env,
      NO_NETWORK_LOG: NETWORK_LOG,
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
      REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
      NODE_NO_WARNINGS: '1',
    },
  },
);

const network = existsSync(NETWORK_LOG) ? readFileSync(NETWORK_LOG, 'utf8').trim() : '';
if (network) {
  console.error(`redocly tried to use the network:\n${network}`);
  process.exit(1);
}
let report;
try {
  report = JSON.parse(lint.stdout);
} catch {
  console.error(`redocly lint did not report (exit ${lint.status}):\n${lint.stdout}\n${lint.stderr}`);
  process.exit(1);
}
const problems = report.problems.filter((p) => !p.ignored);
for (const p of problems) {
  console.error(`${p.severity} ${p.ruleId} ${p.location?.[0]?.pointer ?? ''}: ${p.message}`);
}
if (problems.length > 0 || lint.status !== 0) {
  console.error(`${OUT}: ${problems.length} problem(s) (recommended ruleset), exit ${lint.status}`);
  process.exit(1);
}
console.log(`${OUT}: lint clean (recommended ruleset; exceptions with reasons in .redocly.lint-ignore.yaml)`);
