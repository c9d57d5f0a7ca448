// The /admin/ operator dashboard in Debian's headless Chromium, driven by playwright-core
// against the real stack (`npm start` on free ports: wrangler dev with the D1 registry
// migrated). The key is entered once; usage shows as bar charts; block/unblock works.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { DEMO_TENANT, mintSessionToken } from '../../scripts/demo.mjs';
import { startStack } from './stack.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

let stack;
let context;
let profile;
const problems = [];

before(
  async () => {
    await mkdir('test-results', { recursive: true });
    stack = await startStack({ log: process.env.DEBUG_STACK ? console.log : undefined });
    profile = await mkdtemp(join(tmpdir(), 'edge-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 1000 },
      timeout: 60_000,
    });
    context.on('page', (page) => {
      page.on('request', (request) => {
        const url = request.url();
        if (!url.startsWith(`${stack.worker}/`) && !url.startsWith('data:') && !url.startsWith('blob:'))
          problems.push(`third-party request: ${url}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    });
  },
  { timeout: 180_000 },
);

after(async () => {
  await context?.close().catch(() => {});
  await stack?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** A demo tenant user's call to the API (what the dashboard then shows as usage). */
async function asUser(sub, path, init = {}) {
  const token = await mintSessionToken(DEMO_TENANT.secret, DEMO_TENANT.id, sub, 600);
  const headers = {
    authorization: `Bearer ${token}`,
    ...(init.body ? { 'content-type': 'application/json' } : {}),
  };
  return fetch(`${stack.worker}${path}`, { ...init, headers });
}

async function adminApi(path) {
  return fetch(`${stack.worker}/admin/v1${path}`, {
    headers: { authorization: `Bearer ${stack.admin_key}` },
  });
}

test('dashboard: key once, usage per tenant per day as charts, remaining threads, block and unblock', {
  timeout: 120_000,
}, async () => {
  // Some usage of the demo tenant today: 3 reads and a thread.
  for (let i = 0; i < 3; i++) assert.equal((await asUser('demo-user', '/v1/assistants')).status, 200);
  assert.equal((await asUser('demo-user', '/v1/threads', { method: 'POST', body: '{}' })).status, 201);
  // Counts are written behind (about half a second): wait until the export has them.
  let requests = 0;
  for (let i = 0; i < 50 && requests < 4; i++) {
    const body = await (await adminApi('/usage?tenant=demo')).json();
    requests = body.rows.reduce((n, row) => n + row.requests, 0);
    if (requests < 4) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(requests >= 4, `the export shows ${requests} requests`);
  const account = await (await adminApi('/account')).json();

  const page = await context.newPage();
  await page.goto(`${stack.worker}/admin/`, { waitUntil: 'load' });
  await page.fill('#key', stack.admin_key);
  await page.click('#key-form button[type="submit"]');

  // The account's remaining threads, as the admin API says.
  await page.waitForSelector('#threads-remaining');
  assert.equal(await page.textContent('#threads-remaining'), String(account.threads_remaining));

  // A chart for the demo tenant whose bar for today carries today's requests.
  const today = new Date().toISOString().slice(0, 10);
  const bar = page.locator(`figure.chart[data-tenant="demo"] rect.bar[data-day="${today}"]`);
  await bar.waitFor({ state: 'attached' });
  assert.ok(Number(await bar.getAttribute('data-value')) >= 4, 'today’s bar');
  assert.ok(Number(await bar.getAttribute('height')) > 0, 'the bar is drawn');
  // Every metric the contract's usage export names can be charted.
  const metrics = await page.$$eval('#metric option', (options) => options.map((o) => o.value));
  assert.deepEqual(metrics.sort(), [
    'events',
    'refused',
    'requests',
    'run_seconds',
    'runs_cancelled',
    'runs_completed',
    'runs_started',
    'threads_created',
    'upload_bytes',
    'upstream_calls',
  ]);
  await page.selectOption('#metric', 'threads_created');
  await page.waitForFunction(
    (day) =>
      document.querySelector(`figure.chart[data-tenant="demo"] rect.bar[data-day="${day}"]`)?.dataset
        .value === '1',
    today,
  );

  // The tenant list, and a block that holds at once.
  const row = page.locator('tr[data-tenant="demo"]');
  await row.waitFor();
  await row.locator('.block-form input').fill('mallory');
  await row.locator('.block-form button').click();
  await page.locator('tr[data-tenant="demo"] li[data-user="mallory"]').waitFor();
  const refused = await asUser('mallory', '/v1/assistants');
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).code, 'USER_BLOCKED');
  await page.screenshot({ path: 'test-results/admin-dashboard.png', fullPage: true });

  await page.locator('tr[data-tenant="demo"] li[data-user="mallory"] button').click();
  await page.locator('tr[data-tenant="demo"] li[data-user="mallory"]').waitFor({ state: 'detached' });
  assert.equal((await asUser('mallory', '/v1/assistants')).status, 200);

  // The key was entered once: a reload in this tab still has it (session storage), the field is empty.
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#threads-remaining');
  assert.equal(await page.inputValue('#key'), '');
  assert.equal(await page.locator('#errors .error-box').count(), 0);
  await page.close();
  assert.deepEqual(problems, []);
});

test('dashboard: a wrong key shows the 401 plainly and loads nothing', { timeout: 60_000 }, async () => {
  const page = await context.newPage();
  await page.goto(`${stack.worker}/admin/`, { waitUntil: 'load' });
  await page.fill('#key', 'not-the-operator-key');
  await page.click('#key-form button[type="submit"]');
  const error = page.locator('#account .error-box');
  await error.waitFor();
  assert.match(await error.textContent(), /UNAUTHORIZED/);
  assert.equal(await page.locator('figure.chart').count(), 0);
  assert.equal(await page.locator('tr[data-tenant]').count(), 0);
  await page.screenshot({ path: 'test-results/admin-wrong-key.png' });
  await page.close();
  assert.deepEqual(problems, []);
});
