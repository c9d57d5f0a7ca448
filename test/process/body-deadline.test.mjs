// Contract section 5 and BODY_TIMEOUT_MS on every route that takes a body, not only the
// session routes: a webhook (unauthenticated until its signature is checked, so anyone
// could hold connections open with a body that never comes) and the admin API. A body
// that stalls is answered 408 within the deadline; a caller who hangs up mid-body leaves
// a 4xx in the Worker's log, never a 500 or an `unhandled error`. Written on raw TCP
// connections: no HTTP client sends half a body and stops.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { poll, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'deadline';
const BODY_TIMEOUT_MS = 1500;
/** Generous: the answer is due at the deadline; this only catches one that never comes. */
const ANSWERED_WITHIN_MS = BODY_TIMEOUT_MS + 5000;
const HOOK_KEY = randomBytes(32);
const HOOK_BODY = '{"message":"a webhook whose body never arrives whole"}';
const TENANT_BODY = JSON.stringify({ project_id: 'proj_acme', assistants: ['asst_support'] });

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'body-deadline',
    tenants: { [TENANT]: tenantConfig({ webhook_secret: `whsec_${HOOK_KEY.toString('base64')}` }) },
    vars: { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) },
  });
});

after(() => stack?.stop());

/** Standard Webhooks headers signing the whole of `body` (only part of it will be sent). */
function signedHeaders(body) {
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const ts = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', HOOK_KEY).update(`${id}.${ts}.${body}`).digest('base64');
  return `webhook-id: ${id}\r\nwebhook-timestamp: ${ts}\r\nwebhook-signature: v1,${mac}\r\n`;
}

/**
 * Sends a request's head and the first 10 bytes of `body`, then nothing more, on a
 * connection of its own; `chunked` frames the body in chunks instead of declaring its
 * length (the body cap then counts it while reading).
 * @param {string} method @param {string} route @param {string} headers extra header lines
 * @param {string} body @param {string} requestId sent as X-Request-Id, to find it in the log
 * @param {'length' | 'chunked'} [framing]
 */
async function stallBody(method, route, headers, body, requestId, framing = 'length') {
  const conn = await stack.connect();
  const host = new URL(stack.url).host;
  const start = body.slice(0, 10);
  const framed =
    framing === 'length'
      ? `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${start}`
      : `Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(start).toString(16)}\r\n${start}\r\n`;
  await conn.write(
    `${method} ${route} HTTP/1.1\r\nHost: ${host}\r\nX-Request-Id: ${requestId}\r\n${headers}` +
      `Content-Type: application/json\r\n${framed}`,
  );
  return conn;
}

/**
 * The status and JSON body answered on `conn`, once they are in (or whatever came by
 * `ANSWERED_WITHIN_MS`: status 0 when nothing did).
 * @param {import('./harness.mjs').RawConnection} conn
 */
async function answerOn(conn) {
  const parse = () => {
    const [head = '', rest = ''] = conn.received.split('\r\n\r\n', 2);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    try {
      return { status, json: JSON.parse(rest) };
    } catch {
      return { status, json: undefined };
    }
  };
  const { value, ms } = await poll(
    async () => parse(),
    (a) => a.json !== undefined || conn.isClosed,
    {
      timeoutMs: ANSWERED_WITHIN_MS,
    },
  );
  return { ...value, ms };
}

const hookHead = () => signedHeaders(HOOK_BODY);
const adminHead = () => `Authorization: Bearer ${stack.adminKey}\r\n`;
const upstreamRequests = async () => {
  const { requests } = await stack.emulator.stats();
  return Object.values(requests).reduce((sum, n) => sum + n, 0);
};

test('a webhook whose body stalls is answered 408 REQUEST_TIMEOUT within the deadline, nothing upstream', async () => {
  const before = await upstreamRequests();
  const conn = await stallBody('POST', `/v1/hooks/${TENANT}/run`, hookHead(), HOOK_BODY, 'stall-hook');
  const answer = await answerOn(conn);
  assert.equal(answer.status, 408, `after ${answer.ms} ms: ${conn.received.slice(0, 300) || 'no answer'}`);
  assert.equal(answer.json?.code, 'REQUEST_TIMEOUT');
  assert.equal(await upstreamRequests(), before, 'upstream requests for a webhook that never arrived');
});

test('an admin PUT whose body stalls is answered 408 REQUEST_TIMEOUT within the deadline, no tenant written', async () => {
  const conn = await stallBody('PUT', '/admin/v1/tenants/stalled', adminHead(), TENANT_BODY, 'stall-admin');
  const answer = await answerOn(conn);
  assert.equal(answer.status, 408, `after ${answer.ms} ms: ${conn.received.slice(0, 300) || 'no answer'}`);
  assert.equal(answer.json?.code, 'REQUEST_TIMEOUT');
  assert.equal((await stack.admin('GET', '/tenants/stalled')).status, 404, 'the tenant of the stalled PUT');
});

test('callers who hang up mid-body leave a 4xx in the log, no 500 and no unhandled error', async () => {
  const token = await stack.token(TENANT, 'leaver');
  const session = `Authorization: Bearer ${token}\r\n`;
  /** @type {Record<string, [string, string, string, string, 'length' | 'chunked']>} */
  const runs = {
    'hangup-hook': ['POST', `/v1/hooks/${TENANT}/run`, hookHead(), HOOK_BODY, 'length'],
    'hangup-hook-chunked': ['POST', `/v1/hooks/${TENANT}/run`, hookHead(), HOOK_BODY, 'chunked'],
    'hangup-admin': ['PUT', '/admin/v1/tenants/hungup', adminHead(), TENANT_BODY, 'length'],
    'hangup-admin-chunked': ['PUT', '/admin/v1/tenants/hungup', adminHead(), TENANT_BODY, 'chunked'],
    // The session routes too: a chunked body's hang-up was a 500 there as well.
    'hangup-session': ['POST', '/v1/threads', session, '{"name":"left"}', 'length'],
    'hangup-session-chunked': ['POST', '/v1/threads', session, '{"name":"left"}', 'chunked'],
  };
  for (const [id, [method, route, headers, body, framing]] of Object.entries(runs)) {
    const conn = await stallBody(method, route, headers, body, id, framing);
    // Long enough for workerd to have the request running; far short of the deadline.
    await sleep(200);
    conn.destroy();
  }
  /** The Worker's JSON log lines of this test's requests. */
  const lines = () =>
    readFileSync(stack.logFile, 'utf8')
      .split('\n')
      .flatMap((line) => {
        if (!line.startsWith('{')) return []; // workerd's own lines
        try {
          return [JSON.parse(line)];
        } catch {
          return [];
        }
      })
      .filter((line) => line.request_id in runs);
  const logged = await poll(
    async () => lines(),
    (all) => Object.keys(runs).every((id) => all.some((l) => l.request_id === id && l.msg === 'request')),
    { timeoutMs: ANSWERED_WITHIN_MS },
  );
  for (const id of Object.keys(runs)) {
    const mine = logged.value.filter((l) => l.request_id === id);
    const request = mine.find((l) => l.msg === 'request');
    assert.ok(request, `${id}: no access log line in ${logged.ms} ms\n${stack.logTail()}`);
    assert.ok(request.status >= 400 && request.status < 500, `${id}: logged ${JSON.stringify(request)}`);
    assert.deepEqual(
      mine.filter((l) => l.level === 'error'),
      [],
      `${id}: error lines in the Worker's log`,
    );
  }
  assert.equal((await stack.admin('GET', '/tenants/hungup')).status, 404, 'the tenant of the abandoned PUT');
});
