// Issue 16, the operator plane, from outside: the Worker under `workerd serve` with its
// D1 registry (a local stand-in on disk), driven through the admin API. A tenant created
// through the API serves tokens within 30 s with no restart; a blocked user is refused
// within 5 s and let back in; a deleted tenant is refused within 30 s; a wrong operator
// key is 401 and no admin route answers a tenant's session token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { describe, poll, startStack, tenantConfig } from './harness.mjs';

const BASE = 'base';
const CREATED = 'made-by-api';

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({ name: 'operator', tenants: { [BASE]: tenantConfig() } });
});

after(() => stack?.stop());

/** Every admin route, with a body where it takes one. */
const ADMIN_ROUTES = [
  ['GET', '/tenants'],
  ['GET', `/tenants/${BASE}`],
  ['PUT', `/tenants/${CREATED}`],
  ['PATCH', `/tenants/${BASE}`],
  ['DELETE', `/tenants/${BASE}`],
  ['POST', `/tenants/${BASE}/users/u/block`],
  ['DELETE', `/tenants/${BASE}/users/u/block`],
  ['GET', `/tenants/${BASE}/blocks`],
  ['GET', '/usage'],
  ['GET', '/account'],
  ['GET', '/audit'],
];

test('a wrong operator key is 401, and no admin route answers a tenant session token', async () => {
  const token = await stack.token(BASE, 'alice');
  const before = (await stack.emulator.stats()).request_log.length;
  for (const key of [false, 'wrong-key', `${stack.adminKey}x`, token]) {
    for (const [method, route] of ADMIN_ROUTES) {
      const json = method === 'PUT' || method === 'PATCH' ? { tool_calls: 'none' } : undefined;
      const res = await stack.admin(method, route, { key, json });
      const label = `${method} ${route} with ${key === token ? 'a session token' : `key ${key}`}`;
      assert.equal(res.status, 401, `${label}: ${describe(res)}`);
      assert.equal(res.json?.code, 'UNAUTHORIZED', label);
    }
  }
  // Nothing was changed by the refused writes, and nothing reached the upstream.
  const tenants = await stack.admin('GET', '/tenants');
  assert.equal(tenants.status, 200, describe(tenants));
  assert.deepEqual(
    tenants.json.tenants.map((/** @type {{ id: string }} */ t) => t.id),
    [BASE],
  );
  assert.equal((await stack.emulator.stats()).request_log.length, before, 'upstream requests');
  // The tenant's own token still works where it belongs.
  assert.equal((await stack.request('GET', '/v1/assistants', { as: [BASE, 'alice'] })).status, 200);
});

test('a tenant created through the admin API serves a session token within 30 s, with no restart', {
  timeout: 45_000,
}, async () => {
  const config = tenantConfig();
  stack.tenants[CREATED] = config;
  const refused = await stack.request('GET', '/v1/assistants', { as: [CREATED, 'alice'] });
  assert.equal(refused.status, 401, `before it exists: ${describe(refused)}`);

  const created = await stack.admin('PUT', `/tenants/${CREATED}`, { json: config });
  assert.equal(created.status, 201, describe(created));
  assert.ok(!created.text.includes(String(config.session_secret)), 'the secret is never shown');
  const served = await poll(
    () => stack.request('GET', '/v1/assistants', { as: [CREATED, 'alice'] }),
    (res) => res.status === 200,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.ok(served.ok, `not served within 30 s: ${describe(served.value)}`);
});

test('a blocked user gets 403 USER_BLOCKED within 5 s and is let back in', { timeout: 30_000 }, async () => {
  const asMallory = () => stack.request('GET', '/v1/threads', { as: [BASE, 'mallory'] });
  assert.equal((await asMallory()).status, 200);

  const blocked = await stack.admin('POST', `/tenants/${BASE}/users/mallory/block`);
  assert.equal(blocked.status, 200, describe(blocked));
  const refused = await poll(asMallory, (res) => res.status === 403, { timeoutMs: 5_000, intervalMs: 100 });
  assert.ok(refused.ok, `not refused within 5 s: ${describe(refused.value)}`);
  assert.equal(refused.value.json?.code, 'USER_BLOCKED');
  // Only mallory: another user of the tenant is served.
  assert.equal((await stack.request('GET', '/v1/threads', { as: [BASE, 'alice'] })).status, 200);

  const unblocked = await stack.admin('DELETE', `/tenants/${BASE}/users/mallory/block`);
  assert.equal(unblocked.status, 200, describe(unblocked));
  const back = await poll(asMallory, (res) => res.status === 200, { timeoutMs: 5_000, intervalMs: 100 });
  assert.ok(back.ok, `not let back in within 5 s: ${describe(back.value)}`);
});

test('a deleted tenant is refused within 30 s', { timeout: 45_000 }, async () => {
  assert.equal((await stack.request('GET', '/v1/assistants', { as: [CREATED, 'alice'] })).status, 200);
  const deleted = await stack.admin('DELETE', `/tenants/${CREATED}`);
  assert.equal(deleted.status, 204, describe(deleted));
  const refused = await poll(
    () => stack.request('GET', '/v1/assistants', { as: [CREATED, 'alice'] }),
    (res) => res.status === 401,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.ok(refused.ok, `still served after 30 s: ${describe(refused.value)}`);
});

/** Runs `npm run admin -- <args>` (scripts/admin.mjs) against the stack; resolves to its output. */
async function cli(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['scripts/admin.mjs', ...args],
      { env: { ...process.env, EDGE_URL: stack.url, EDGE_ADMIN_KEY: stack.adminKey }, timeout: 10_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

test('the admin CLI adds a tenant, rotates its secret, blocks a user and exports usage', {
  timeout: 30_000,
}, async () => {
  const id = 'cli-made';
  const config = tenantConfig();
  await cli(['add-tenant', id, '-'], JSON.stringify(config));
  stack.tenants[id] = config;
  assert.equal((await stack.request('GET', '/v1/threads', { as: [id, 'alice'] })).status, 200);

  const rotated = await cli(['rotate-secret', id, '--kid', 'k-next']);
  const secret = rotated.trim().split('\n').at(-1) ?? '';
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  const shown = await cli(['tenant', id]);
  assert.ok(!shown.includes(secret) && !shown.includes(String(config.session_secret)), 'secrets stay masked');
  // The new secret signs tokens under its kid, and the old one still works.
  const now = Math.floor(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT', kid: 'k-next' })}.${encode({ tenant: id, sub: 'alice', iat: now, exp: now + 600 })}`;
  const signed = `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
  const withKid = await stack.request('GET', '/v1/threads', {
    headers: { authorization: `Bearer ${signed}` },
  });
  assert.equal(withKid.status, 200, describe(withKid));
  assert.equal((await stack.request('GET', '/v1/threads', { as: [id, 'alice'] })).status, 200);

  await cli(['block', id, 'mallory']);
  assert.equal((await stack.request('GET', '/v1/threads', { as: [id, 'mallory'] })).status, 403);
  await cli(['unblock', id, 'mallory']);
  assert.equal((await stack.request('GET', '/v1/threads', { as: [id, 'mallory'] })).status, 200);

  const csv = await poll(
    () => cli(['usage', '--tenant', id, '--group', 'user', '--format', 'csv']),
    (text) => text.includes(',alice,'),
    { timeoutMs: 5_000, intervalMs: 200 },
  );
  assert.ok(csv.ok, `no usage row for alice: ${csv.value}`);
  assert.match(csv.value.split('\r\n')[0] ?? '', /^tenant,day,user,requests,refused,/);
});

/** Runs the admin CLI like {@link cli}, but resolves to its exit code and both outputs, failed or not. */
async function cliRun(args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['scripts/admin.mjs', ...args],
      { env: { ...process.env, EDGE_URL: stack.url, EDGE_ADMIN_KEY: stack.adminKey }, timeout: 10_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An HS256 session token for `tenant`/`sub` under `kid`, signed with `secret`. */
function tokenWithKid(tenant, kid, secret) {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT', kid })}.${encode({ tenant, sub: 'alice', iat: now, exp: now + 600 })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

test('the admin CLI refuses to reuse a live kid, to retire an unknown one and to read a missing file', {
  timeout: 30_000,
}, async () => {
  const id = 'cli-kids';
  const config = tenantConfig();
  await cli(['add-tenant', id, '-'], JSON.stringify(config));
  stack.tenants[id] = config;
  const first = (await cli(['rotate-secret', id, '--kid', 'live'])).trim().split('\n').at(-1) ?? '';
  const live = tokenWithKid(id, 'live', first);
  const asLive = () => stack.request('GET', '/v1/threads', { headers: { authorization: `Bearer ${live}` } });
  assert.equal((await asLive()).status, 200);
  const stored = (await stack.admin('GET', `/tenants/${id}`)).json;

  // Reusing the kid: refused before any write, and its tokens still verify.
  const reused = await cliRun(['rotate-secret', id, '--kid', 'live']);
  assert.equal(reused.code, 1, reused.stderr);
  assert.match(reused.stderr, /already has an HS256 secret with kid live.*--replace/s);
  assert.doesNotMatch(reused.stdout, /secret/, 'no secret is printed for a refused rotation');
  // Retiring a kid the tenant does not have: refused, no secret added.
  const unknown = await cliRun(['rotate-secret', id, '--retire', 'nosuch']);
  assert.equal(unknown.code, 1, unknown.stderr);
  assert.match(unknown.stderr, /no HS256 secret nosuch to retire/);
  assert.deepEqual((await stack.admin('GET', `/tenants/${id}`)).json, stored, 'nothing was written');
  assert.equal((await asLive()).status, 200, 'the live kid still verifies');

  // A missing file: one line naming it, no Node stack, no tenant created.
  const missing = await cliRun(['add-tenant', 'cli-nofile', 'nosuchfile.json']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), 'nosuchfile.json: cannot be read (no such file)');
  assert.equal((await stack.admin('GET', '/tenants/cli-nofile')).status, 404);

  // --replace says so, and does what it says: the old secret of the kid is gone.
  const replaced = await cliRun(['rotate-secret', id, '--kid', 'live', '--replace']);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stdout, /replaced HS256 secret, kid live/);
  const next = replaced.stdout.trim().split('\n').at(-1) ?? '';
  const withNext = await poll(
    () =>
      stack.request('GET', '/v1/threads', {
        headers: { authorization: `Bearer ${tokenWithKid(id, 'live', next)}` },
      }),
    (res) => res.status === 200,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.ok(withNext.ok, describe(withNext.value));
  assert.equal((await asLive()).status, 401, 'the replaced secret no longer verifies');
});
