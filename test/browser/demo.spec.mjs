// The /demo chat page, the /chat page (built on the Vercel AI SDK) and the /docs page in
// Debian's headless Chromium, driven by playwright-core against the real stack (`npm start`
// on free ports). Run by run.mjs.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer as createNetServer } from 'node:net';
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
const MESSAGE = 'hello from a real browser';

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
      viewport: { width: 1280, height: 860 },
      timeout: 60_000,
    });
    context.on('page', watch);
  },
  { timeout: 180_000 },
);

after(async () => {
  await context?.close().catch(() => {});
  await stack?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Origins the pages may load from: the Worker's (and a test's proxy in front of it). */
const allowed = [];

/** Every request must stay on the Worker's origin; page errors fail the test. */
function watch(page) {
  page.on('request', (request) => {
    const url = request.url();
    if (
      ![stack.worker, ...allowed].some((origin) => url.startsWith(`${origin}/`)) &&
      !url.startsWith('data:')
    )
      problems.push(`third-party request: ${url}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
}

/** The session tokens the page sends to the gateway, as they are sent (filled in live). */
function bearersSent(page) {
  const tokens = [];
  page.on('request', (request) => {
    const auth = request.headers().authorization;
    if (auth) tokens.push(auth.replace(/^Bearer /, ''));
  });
  return tokens;
}

async function openPage(url) {
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

test('demo: pick an assistant, create a thread and watch the reply stream in', {
  timeout: 90_000,
}, async () => {
  // The emulator also calls a tool, which the demo tenant's policy ("name") shows by name only.
  const knobs = await fetch(`${stack.emulator}/__emulator/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tool_calls: [{ name: 'lookup_order', args: { order: 'A-1001' } }] }),
  });
  assert.equal(knobs.status, 200);

  const page = await openPage(stack.demo);
  const sent = bearersSent(page);
  // The fragment is removed from the address bar, and its token is not used until the
  // reader has seen whose it is and said so.
  await page.waitForFunction(() => !location.hash.includes('token='));
  await page.locator('#token-offer').waitFor();
  assert.match(await page.textContent('#token-offer-who'), /tenant demo, user demo-user/);
  assert.deepEqual(sent, []);
  await page.click('#token-offer-accept');
  await page.waitForSelector('#assistant:not([disabled]) option[value="asst_sales"]', { state: 'attached' });
  assert.match(await page.textContent('#who'), /Tenant demo · user demo-user/);

  await page.selectOption('#assistant', 'asst_sales');
  await page.click('#new-thread');
  await page.waitForFunction(() => /^\S+$/.test(document.getElementById('thread-id').textContent));

  // Record the reply's length at every DOM change while it streams.
  await page.evaluate(() => {
    window.samples = [];
    const start = performance.now();
    new MutationObserver(() => {
      const text = document.querySelector('#log .msg-assistant:last-child .text');
      if (text) window.samples.push([performance.now() - start, text.textContent.length]);
    }).observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#message', MESSAGE);
  await page.click('#send');
  await page.waitForSelector('#log .msg-assistant.done', { timeout: 20_000 });

  const reply = page.locator('#log .msg-assistant').last();
  const text = await reply.locator('.text').evaluate((el) =>
    [...el.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent)
      .join(''),
  );
  assert.equal(text, `Echo: ${MESSAGE}`);
  const samples = await page.evaluate(() => window.samples);
  const lengths = [...new Set(samples.map(([, length]) => length).filter((length) => length > 0))];
  assert.ok(
    lengths.length >= 3,
    `the reply arrived in ${lengths.length} step(s): ${JSON.stringify(samples)}`,
  );
  assert.deepEqual(
    lengths,
    [...lengths].sort((a, b) => a - b),
    'the reply only grows',
  );
  const growing = samples.filter(([, length]) => length > 0);
  const spread = growing.at(-1)[0] - growing[0][0];
  assert.ok(spread > 100, `the reply arrived over ${Math.round(spread)} ms, not at once`);

  // The tool call, as the tenant's policy cuts it: the name, no arguments.
  assert.equal(await reply.locator('.tool-call code').textContent(), 'lookup_order');
  assert.equal(await reply.locator('.tool-call pre').count(), 0);

  // The rate-limit state: the RateLimit header of the last response and GET /v1/usage.
  const user = page.locator('#ratelimit-list dd[data-policy="user"]');
  assert.match(await user.textContent(), /^\d+ of \d+ left/);
  assert.ok(Number(await user.getAttribute('data-remaining')) >= 0);
  await page.waitForFunction(() => /1 yours/.test(document.getElementById('usage').textContent));
  assert.equal(await page.locator('#errors .error-box').count(), 0);

  await page.screenshot({ path: 'test-results/demo.png', fullPage: true });

  // Errors are shown plainly: a bad token gets the contract's 401 body, request id included.
  await page.click('#token-panel summary');
  await page.fill('#token', 'not-a-session-token');
  await page.click('#token-form button[type="submit"]');
  const error = page.locator('#errors .error-box').first();
  await error.waitFor();
  assert.match(await error.textContent(), /UNAUTHORIZED/);
  assert.match(await error.textContent(), /Request id[0-9a-f-]{36}/);
  await page.screenshot({ path: 'test-results/demo-error.png' });
  await page.close();
  assert.deepEqual(problems, []);
});

/**
 * A TCP proxy in front of the Worker that can cut every connection through it at once,
 * the way a phone switching networks loses its sockets (Chromium's offline emulation
 * leaves a stream that is already open alone). New connections go through as usual.
 */
async function cuttableProxy(target) {
  const { port: targetPort } = new URL(target);
  const sockets = new Set();
  const server = createNetServer((client) => {
    const upstream = connect(Number(targetPort), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test('demo: a dropped connection mid-answer is resumed where it stopped, and paid for once', {
  timeout: 90_000,
}, async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
  const configure = (knobs) =>
    fetch(`${stack.emulator}/__emulator/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(knobs),
    });
  assert.equal((await configure({ reply: words, tool_calls: [], stream: { pace_ms: 150 } })).status, 200);
  const stats = async () => (await (await fetch(`${stack.emulator}/__emulator/stats`)).json()).runs;
  const proxy = await cuttableProxy(stack.worker);
  allowed.push(proxy.url);
  try {
    const page = await openPage(stack.demo.replace(stack.worker, proxy.url));
    const resumes = [];
    page.on('request', (request) => {
      if (/\/runs\/run_[a-f0-9]+\/events$/.test(new URL(request.url()).pathname)) {
        resumes.push(request.headers()['last-event-id'] ?? null);
      }
    });
    await page.locator('#token-offer-accept').click();
    await page.waitForSelector('#assistant:not([disabled])', { state: 'attached' });
    await page.click('#new-thread');
    await page.waitForFunction(() => /^\S+$/.test(document.getElementById('thread-id').textContent));
    const runsBefore = await stats();

    await page.fill('#message', 'tell me thirty words');
    await page.click('#send');
    await page.waitForFunction(
      () => (document.querySelector('#log .msg-assistant:last-child .text')?.textContent ?? '').length > 5,
    );
    proxy.cut(); // mid-answer: the page's stream breaks
    await page.waitForSelector('#log .msg-assistant.done', { timeout: 30_000 });

    const reply = await page
      .locator('#log .msg-assistant')
      .last()
      .locator('.text')
      .evaluate((el) =>
        [...el.childNodes]
          .filter((n) => n.nodeType === Node.TEXT_NODE)
          .map((n) => n.textContent)
          .join(''),
      );
    assert.equal(reply, words, 'every word once, in order');
    assert.ok(resumes.length >= 1, 'the page came back through GET .../runs/{run_id}/events');
    assert.match(String(resumes.at(-1)), /^run_[a-f0-9]{32}:\d+$/, 'with Last-Event-ID');
    assert.equal((await stats()) - runsBefore, 1, 'one upstream run');
    assert.equal(await page.locator('#errors .error-box').count(), 0);
    await page.screenshot({ path: 'test-results/demo-resumed.png', fullPage: true });
    await page.close();
    assert.deepEqual(problems, []);
  } finally {
    proxy.close();
    await configure({ reply: null, stream: { pace_ms: 0 } });
  }
});

test('a link with another token never replaces the tab’s own without asking', {
  timeout: 60_000,
}, async () => {
  const page = await openPage(stack.demo);
  await page.click('#token-offer-accept');
  await page.waitForSelector('#assistant:not([disabled])');
  assert.match(await page.textContent('#who'), /user demo-user/);

  // A crafted link, opened in the same tab: someone else's token in the fragment.
  const mallory = await mintSessionToken(DEMO_TENANT.secret, DEMO_TENANT.id, 'mallory');
  const sent = bearersSent(page);
  await page.goto(`${stack.worker}/demo/?from=mail#token=${mallory}`, { waitUntil: 'load' });
  await page.locator('#token-offer').waitFor();
  assert.match(await page.textContent('#token-offer-who'), /user mallory/);
  assert.match(await page.textContent('#token-offer-current'), /user demo-user/);
  await page.screenshot({ path: 'test-results/token-offer.png' });
  await page.waitForSelector('#assistant:not([disabled])');
  assert.match(await page.textContent('#who'), /user demo-user/);
  await page.click('#token-offer-dismiss');
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#assistant:not([disabled])');
  assert.match(await page.textContent('#who'), /user demo-user/);
  assert.equal(await page.locator('#token-offer').count(), 0);
  assert.ok(sent.length > 0);
  assert.ok(
    sent.every((token) => token === stack.token),
    'only the tab’s own token was sent',
  );

  // Said yes to: then, and only then, it is used. (Another query: a URL that differs from
  // the current one only in its fragment would not load the page again.)
  await page.goto(`${stack.worker}/demo/?from=chat#token=${mallory}`, { waitUntil: 'load' });
  await page.click('#token-offer-accept');
  await page.waitForFunction(() => /user mallory/.test(document.getElementById('who').textContent));
  assert.equal(sent.at(-1), mallory);
  await page.close();
  assert.deepEqual(problems, []);
});

test('chat: the AI SDK page sends a message through POST /v1/chat and streams the answer in', {
  timeout: 90_000,
}, async () => {
  const knobs = await fetch(`${stack.emulator}/__emulator/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tool_calls: [{ name: 'lookup_order', args: { order: 'A-1001' } }] }),
  });
  assert.equal(knobs.status, 200);
  const { devDependencies } = JSON.parse(await readFile('package.json', 'utf8'));

  const page = await context.newPage();
  // resume: true — once it has a token the SDK asks for a run in progress; a fresh chat has none (204).
  const resumed = page.waitForResponse((r) => /\/v1\/chat\/chat_\w+\/stream$/.test(r.url()));
  await page.goto(stack.chat, { waitUntil: 'load' });
  await page.waitForFunction(() => !location.hash.includes('token='));
  // The link's token is offered, never taken on arrival (this tab has the demo's already).
  const offer = page.locator('#token-offer-accept');
  if (await offer.isVisible().catch(() => false)) await offer.click();
  assert.equal((await resumed).status(), 204);
  assert.equal(await page.textContent('#sdk-version'), `ai ${devDependencies.ai}`);
  assert.match(await page.textContent('#who'), /Tenant demo · user demo-user/);

  await page.evaluate(() => {
    window.samples = [];
    const start = performance.now();
    new MutationObserver(() => {
      const text = document.querySelector('#log .msg-assistant:last-child .text');
      if (text) window.samples.push([performance.now() - start, text.textContent.length]);
    }).observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
  });
  const posted = page.waitForResponse(
    (r) => r.url() === `${stack.worker}/v1/chat` && r.request().method() === 'POST',
  );
  await page.fill('#message', MESSAGE);
  await page.click('#send');
  const response = await posted;
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['x-vercel-ai-ui-message-stream'], 'v1');
  await page.waitForSelector('#log .msg-assistant.done', { timeout: 20_000 });

  const reply = page.locator('#log .msg-assistant').last();
  assert.equal((await reply.locator('.text > span.part').allTextContents()).join(''), `Echo: ${MESSAGE}`);
  assert.equal(await reply.locator('.tool-call code').textContent(), 'lookup_order');
  assert.equal(await reply.locator('.tool-call pre').count(), 0, 'the "name" policy shows no arguments');
  const samples = await page.evaluate(() => window.samples);
  const lengths = [...new Set(samples.map(([, length]) => length).filter((length) => length > 0))];
  assert.ok(
    lengths.length >= 3,
    `the reply arrived in ${lengths.length} step(s): ${JSON.stringify(samples)}`,
  );
  assert.deepEqual(
    lengths,
    [...lengths].sort((a, b) => a - b),
    'the reply only grows',
  );
  assert.equal(await page.textContent('#status'), 'ready');
  assert.equal(await page.locator('#errors .error-box').count(), 0);
  await page.screenshot({ path: 'test-results/chat.png', fullPage: true });

  // A reload keeps the conversation (this tab's storage) and asks again for a run in progress.
  const again = page.waitForResponse((r) => /\/v1\/chat\/chat_\w+\/stream$/.test(r.url()));
  await page.reload({ waitUntil: 'load' });
  assert.equal((await again).status(), 204);
  await page.waitForSelector('#log .msg-assistant.done');
  assert.equal(await page.locator('#log .msg-user').count(), 1);
  await page.close();
  assert.deepEqual(problems, []);
});

test('docs: the operations of /openapi.json, and "try it" with the token', { timeout: 60_000 }, async () => {
  const page = await openPage(`${stack.worker}/docs/#token=${stack.token}`);
  await page.click('#token-offer-accept');
  await page.waitForSelector('.operation');
  const documented = await (await fetch(`${stack.worker}/openapi.json`)).json();
  const count = Object.values(documented.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(await page.locator('.operation').count(), count);

  const op = page.locator('#op-get-v1-assistants');
  await op.locator('.try-it summary').click();
  await op.locator('.try button[type="submit"]').click();
  await op.locator('.output .status strong').waitFor();
  assert.match(await op.locator('.output .status').textContent(), /^200/);
  assert.match(await op.locator('.response-body').textContent(), /asst_support/);
  await op.screenshot({ path: 'test-results/docs-try-it.png' });

  // The run route's stream is shown frame by frame as it arrives.
  const created = await fetch(`${stack.worker}/v1/threads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const { thread_id } = await created.json();
  const run = page.locator('#op-post-v1-threads-thread-id-run');
  await run.locator('.try-it summary').click();
  await run.locator('#op-post-v1-threads-thread-id-run-param-path-thread_id').fill(thread_id);
  await run.locator('.try button[type="submit"]').click();
  await run.locator('.output .status', { hasText: 'stream closed' }).waitFor({ timeout: 20_000 });
  const frames = await run.locator('.response-body').textContent();
  assert.match(frames, /^(: ping\n\n)?id: run_[a-f0-9]{32}:1\nevent: start\n/);
  assert.match(frames, /event: content\ndata: \{"delta":"Echo:"\}/);
  assert.match(frames, /event: done\ndata: \{\}\n\n$/);
  await page.screenshot({ path: 'test-results/docs.png' });
  await page.close();
  assert.deepEqual(problems, []);
});
