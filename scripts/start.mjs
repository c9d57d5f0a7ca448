// `npm start`: the upstream emulator and the Worker (`wrangler dev`) wired together,
// with a ready demo tenant, a session token to paste into curl and an operator key for
// the admin API and dashboard. The tenant registry (D1) is migrated first. Offline by design.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { buildEmulator } from './build-emulator.mjs';
import { DEMO_IDP_USER, DEMO_TENANT, DEMO_USER, mintIdpToken, mintSessionToken } from './demo.mjs';

const WORKER_PORT = Number(process.env.PORT ?? 8787);
const EMULATOR_PORT = Number(process.env.EMULATOR_PORT ?? 8788);
// Where wrangler keeps the Worker's Durable Object state: one folder per port (tests pass
// their own). The emulator keeps its state in memory, so it starts empty every time; the
// Worker's state is emptied to match (persist both or neither). Otherwise a restarted
// emulator numbers threads from 1 again while the Worker still records the old ones.
const PERSIST_TO = resolve(process.env.WRANGLER_PERSIST_TO ?? join('.tmp', `start-${WORKER_PORT}`, 'state'));
const quietEnv = {
  ...process.env,
  // The project's wrangler, also when this script runs outside `npm run` (e.g. from a test).
  PATH: `${resolve('node_modules/.bin')}${delimiter}${process.env.PATH ?? ''}`,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};
const children = [];

function stopAll(code = 0) {
  for (const child of children) child.kill('SIGTERM');
  process.exit(code);
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

function run(command, args, label) {
  const child = spawn(command, args, { env: quietEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const prefix = (chunk) =>
    chunk
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => `[${label}] ${line}`)
      .join('\n');
  child.stdout.on('data', (chunk) => process.stdout.write(`${prefix(chunk)}\n`));
  child.stderr.on('data', (chunk) => process.stderr.write(`${prefix(chunk)}\n`));
  child.on('error', (error) => {
    console.error(`[${label}] could not start: ${error.message}`);
    stopAll(1);
  });
  child.on('exit', (code) => {
    console.error(`[${label}] exited with code ${code}`);
    stopAll(code ?? 1);
  });
  return child;
}

async function waitFor(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Runs a command to its end (output prefixed like the others); rejects on a non-zero exit. */
function runToEnd(command, args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: quietEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (chunk) =>
      chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => `[${label}] ${line}`)
        .join('\n');
    child.stdout.on('data', (chunk) => process.stdout.write(`${prefix(chunk)}\n`));
    child.stderr.on('data', (chunk) => process.stderr.write(`${prefix(chunk)}\n`));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${label} exited with code ${code}`)),
    );
  });
}

// Only wrangler's own folder inside it (v3/: Durable Objects, caches, queues), so a
// WRANGLER_PERSIST_TO pointing at a folder with other things in it loses nothing else.
rmSync(join(PERSIST_TO, 'v3'), { recursive: true, force: true });
mkdirSync(PERSIST_TO, { recursive: true });

// The tenant registry's tables, in the local D1 database `wrangler dev` will use (after the
// state was emptied above, so the registry starts from its migrations and TENANTS each time).
await runToEnd(
  'wrangler',
  ['d1', 'migrations', 'apply', 'REGISTRY', '--local', ...(PERSIST_TO ? ['--persist-to', PERSIST_TO] : [])],
  'migrate',
).catch((error) => {
  console.error(`[migrate] ${error.message}`);
  process.exit(1);
});

const emulatorUrl = `http://127.0.0.1:${EMULATOR_PORT}`;
run(process.execPath, [buildEmulator('node'), '--port', String(EMULATOR_PORT)], 'emulator');
await waitFor(`${emulatorUrl}/__emulator/config`, 20_000);
// A visible pace, so a streamed reply arrives token by token.
await fetch(`${emulatorUrl}/__emulator/config`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ stream: { pace_ms: 60 } }),
});

mkdirSync('.tmp', { recursive: true });
// One env file per port, so a second stack (the browser test) does not rewrite this one's.
const envFile = `.tmp/start-${WORKER_PORT}.env`;
// A fresh operator key per start (EDGE_ADMIN_KEY to keep one): the Worker gets only its digest.
const adminKey = process.env.EDGE_ADMIN_KEY || `eek_${randomBytes(24).toString('base64url')}`;
const vars = {
  EPSIMO_BASE_URL: emulatorUrl,
  EPSIMO_EMAIL: 'ops@edge-canary.example',
  EPSIMO_PASSWORD: 'emulator-password',
  TENANTS: JSON.stringify({ [DEMO_TENANT.id]: DEMO_TENANT.config(WORKER_PORT, emulatorUrl) }),
  ADMIN_KEY_HASHES: createHash('sha256').update(adminKey).digest('hex'),
};
// Single-quoted: dotenv takes those literally (in double quotes it keeps `\"` escaped,
// which broke the TENANTS JSON).
const dotenvValue = (value) => {
  if (/['\n]/.test(value)) throw new Error(`cannot write ${value} to an env file`);
  return `'${value}'`;
};
writeFileSync(
  envFile,
  Object.entries(vars)
    .map(([key, value]) => `${key}=${dotenvValue(value)}`)
    .join('\n'),
);

run(
  'wrangler',
  [
    'dev',
    '--port',
    String(WORKER_PORT),
    '--ip',
    '127.0.0.1',
    '--env-file',
    envFile,
    '--show-interactive-dev-session=false',
    '--persist-to',
    PERSIST_TO,
  ],
  'worker',
);
const workerUrl = `http://127.0.0.1:${WORKER_PORT}`;
await waitFor(`${workerUrl}/healthz`, 60_000);

const token = await mintSessionToken(DEMO_TENANT.secret, DEMO_TENANT.id, DEMO_USER);
// What a frontend signed in with Clerk, Auth0, Supabase or Firebase holds: the IdP's own token.
const idpToken = await mintIdpToken(emulatorUrl, workerUrl);
// The token rides in the fragment: the browser never sends it to the server.
const demoUrl = `${workerUrl}/demo/#token=${token}`;
const chatUrl = `${workerUrl}/chat/#token=${token}`;
console.log(`
epsimo-edge is running.
  Worker:    ${workerUrl}
  Emulator:  ${emulatorUrl} (stands in for the Epsimo API)
  Tenant:    ${DEMO_TENANT.id}, user ${DEMO_USER}

Demo session token (valid 12 h):
  export TOKEN=${token}

IdP-style token (RS256 from the emulator's stand-in IdP, JWKS at ${emulatorUrl}/.well-known/jwks.json;
no tenant claim: the tenant is picked by iss/aud; user ${DEMO_IDP_USER}, valid 12 h):
  export IDP_TOKEN=${idpToken}

Open the demo chat (the token is in the link):
  ${demoUrl}
or the chat built on the Vercel AI SDK (POST /v1/chat):
  ${chatUrl}
API docs: ${workerUrl}/docs/

Operator key (admin API and dashboard; the Worker holds only its SHA-256):
  export EDGE_ADMIN_KEY=${adminKey}
Dashboard: ${workerUrl}/admin/
  npm run admin -- tenants        (EDGE_URL=${workerUrl} when not on port 8787)

Try:
  curl ${workerUrl}/healthz
  curl -H "Authorization: Bearer $TOKEN" ${workerUrl}/v1/assistants
  curl -H "Authorization: Bearer $IDP_TOKEN" ${workerUrl}/v1/threads

Ctrl-C stops both.
`);
// One machine-readable line for scripts that start the stack (test/browser/run.mjs).
console.log(
  `EDGE_READY ${JSON.stringify({ worker: workerUrl, emulator: emulatorUrl, token, idp_token: idpToken, demo: demoUrl, chat: chatUrl, admin_key: adminKey })}`,
);
