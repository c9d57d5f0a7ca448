import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ADMIN_KEY, ADMIN_KEY_HASH, TENANTS } from '../fixtures/tenants';
import { operator, sha256, TenantViewSchema } from '../helpers/admin';
import { expectError, expectNoSecrets, watchUpstream } from '../helpers/assertions';
import { unique } from '../helpers/fixtures';
import { sessionToken, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { eventsOf, SseReader } from '../helpers/sse';

const SECRET = `admin-test-secret-${'s'.repeat(24)}-Zq9w`;
const NEXT_SECRET = `admin-next-secret-${'n'.repeat(24)}-Yp8v`;
const WEBHOOK = 'whsec_YWRtaW4tdGVzdC13ZWJob29rLXNlY3JldC0x';

/** A tenant entry for the admin API, with secrets a test can look for in every answer. */
const entry = (more: Record<string, unknown> = {}) => ({
  project_id: 'proj_acme',
  session_secret: SECRET,
  assistants: ['asst_support'],
  webhook_secret: WEBHOOK,
  ...more,
});

const AuditSchema = z.object({
  entries: z.array(
    z.object({
      actor: z.string(),
      action: z.string(),
      tenant: z.string().nullable(),
      subject: z.string().nullable(),
      detail: z.unknown(),
    }),
  ),
});

/** A gateway, its operator, and a tenant id of this test that the registry does not know yet. */
function setup() {
  const gw = testGateway();
  const admin = operator(gw.overrides);
  const id = `adm-${unique()}`;
  /** `GET /v1/threads` as `sub` of tenant `id`, signed with `secret` (and `kid`). */
  const asUser = async (sub: string, secret = SECRET, kid?: string) => {
    const token = await sessionToken(secret, { tenant: id, sub });
    const signed = kid === undefined ? token : await kidToken(secret, id, sub, kid);
    return gw.fetch('/v1/threads', { headers: { authorization: `Bearer ${signed}` } });
  };
  return { gw, admin, id, asUser };
}

async function kidToken(secret: string, tenant: string, sub: string, kid: string): Promise<string> {
  const enc = (value: unknown) =>
    btoa(JSON.stringify(value)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  const now = Math.floor(Date.now() / 1000);
  const head = `${enc({ alg: 'HS256', typ: 'JWT', kid })}.${enc({ tenant, sub, iat: now, exp: now + 600 })}`;
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(head)));
  let binary = '';
  for (const byte of mac) binary += String.fromCharCode(byte);
  return `${head}.${btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')}`;
}

describe('admin API: the operator key', () => {
  it('is the one whose SHA-256 is configured', async () => {
    expect(await sha256(ADMIN_KEY)).toBe(ADMIN_KEY_HASH);
  });

  it('refuses no key, a wrong key and a tenant session token with 401 on every admin route', async () => {
    const { gw, admin, id } = setup();
    const token = await sessionToken(TENANTS.acme.session_secret, { tenant: gw.ids.acme, sub: 'alice' });
    const routes: [string, string][] = [
      ['GET', '/tenants'],
      ['GET', `/tenants/${id}`],
      ['PUT', `/tenants/${id}`],
      ['PATCH', `/tenants/${id}`],
      ['DELETE', `/tenants/${id}`],
      ['POST', `/tenants/${id}/users/u/block`],
      ['DELETE', `/tenants/${id}/users/u/block`],
      ['DELETE', `/tenants/${id}/users/u/threads`],
      ['GET', `/tenants/${id}/blocks`],
      ['GET', '/usage'],
      ['GET', '/account'],
      ['GET', '/audit'],
    ];
    const watch = await watchUpstream(gw.emulator);
    for (const key of [false, 'not-the-key', `${ADMIN_KEY}x`, token] as const) {
      for (const [method, path] of routes) {
        const res = await admin.request(method, path, { key, json: method === 'PUT' ? entry() : undefined });
        const body = await expectError(res, 401, 'UNAUTHORIZED');
        expect({ route: `${method} ${path}`, detail: body.detail }).toEqual({
          route: `${method} ${path}`,
          detail: 'A valid operator key is required.',
        });
      }
    }
    // Nothing was created by the refused PUTs, and nothing reached the upstream.
    await expectError(await admin.request('GET', `/tenants/${id}`), 404, 'NOT_FOUND');
    await watch.expectNone();
  });

  it('refuses even the right key when no ADMIN_KEY_HASHES is configured', async () => {
    const gw = testGateway();
    const admin = operator({ ...gw.overrides, ADMIN_KEY_HASHES: '' });
    await expectError(await admin.request('GET', '/tenants'), 401, 'UNAUTHORIZED');
  });

  it('answers no CORS preflight and sends no Access-Control-Allow-Origin, even to a tenant origin', async () => {
    const { admin } = setup();
    const origin = TENANTS.acme.origins[0];
    const preflight = await admin.request('OPTIONS', '/tenants', {
      key: false,
      headers: { origin, 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const res = await admin.request('GET', '/tenants', { headers: { origin } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('admin API: tenants', () => {
  it('creates a tenant that serves its session tokens at once, and never shows its secrets', async () => {
    const { admin, id, asUser } = setup();
    await expectError(await asUser('alice'), 401, 'UNAUTHORIZED');

    const created = await admin.request('PUT', `/tenants/${id}`, { json: entry() });
    const text = await created.clone().text();
    expect(created.status, text).toBe(201);
    expectNoSecrets(text, [SECRET, WEBHOOK]);
    const view = await parseJson(created, TenantViewSchema);
    expect(view).toMatchObject({
      id,
      source: 'api',
      config: { session_secret: `****${SECRET.slice(-4)}`, webhook_secret: `****${WEBHOOK.slice(-4)}` },
    });
    // Every default is shown, as a TENANTS entry would be parsed.
    expect(view.config).toMatchObject({ tool_calls: 'name', origins: [], limits: { burst: 20 } });

    expect((await asUser('alice')).status).toBe(200);
    const listed = await admin.request('GET', '/tenants');
    const listText = await listed.clone().text();
    expectNoSecrets(listText, [SECRET, WEBHOOK]);
    const { tenants } = await parseJson(listed, z.object({ tenants: z.array(TenantViewSchema) }));
    expect(tenants.map((t) => t.id)).toContain(id);
  });

  it('keeps a stored secret sent back masked, and rotates by adding a key next to it', async () => {
    const { admin, id, asUser } = setup();
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry() })).status).toBe(201);
    const shown = await parseJson(await admin.request('GET', `/tenants/${id}`), TenantViewSchema);

    // GET, change a limit, PUT back: the masked secrets stand for the stored ones.
    const replaced = await admin.request('PUT', `/tenants/${id}`, {
      json: { ...shown.config, tool_calls: 'full', auth: { hs256: [{ kid: 'k2', secret: NEXT_SECRET }] } },
    });
    expect(replaced.status, await replaced.clone().text()).toBe(200);
    expect((await asUser('alice')).status).toBe(200);
    expect((await asUser('alice', NEXT_SECRET, 'k2')).status).toBe(200);

    // A mask that stands for no stored secret is refused, and nothing changes.
    const bogus = await admin.request('PUT', `/tenants/${id}`, {
      json: { ...shown.config, session_secret: '****nope' },
    });
    await expectError(bogus, 400, 'VALIDATION_ERROR', 'session_secret');
    expect((await asUser('alice')).status).toBe(200);
  });

  it('patches with a JSON merge patch and validates the result with the TENANTS schema', async () => {
    const { admin, id } = setup();
    expect(
      (await admin.request('PUT', `/tenants/${id}`, { json: entry({ origins: ['https://a.example'] }) }))
        .status,
    ).toBe(201);
    const patched = await admin.request('PATCH', `/tenants/${id}`, {
      json: { limits: { requests_per_minute: 7 }, origins: null },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(patched.status, await patched.clone().text()).toBe(200);
    const view = await parseJson(patched, TenantViewSchema);
    expect(view.config).toMatchObject({ origins: [], limits: { requests_per_minute: 7, burst: 20 } });

    const bad = await admin.request('PATCH', `/tenants/${id}`, { json: { limits: { burst: -1 } } });
    await expectError(bad, 400, 'VALIDATION_ERROR', 'limits.burst');
    const unknown = await admin.request('PATCH', `/tenants/${id}`, { json: { colour: 'red' } });
    await expectError(unknown, 400, 'VALIDATION_ERROR', 'colour');
    // The refused patches changed nothing.
    const after = await parseJson(await admin.request('GET', `/tenants/${id}`), TenantViewSchema);
    expect(after.config).toMatchObject({ limits: { requests_per_minute: 7, burst: 20 } });
    expect(after.updated_at).toBe(view.updated_at);
  });

  it('refuses an invalid tenant without writing it, naming the field and echoing no value', async () => {
    const { admin, id } = setup();
    const res = await admin.request('PUT', `/tenants/${id}`, { json: entry({ session_secret: 'hunter2' }) });
    const body = await expectError(res, 400, 'VALIDATION_ERROR', 'session_secret');
    expect(body.detail).not.toContain('hunter2');
    await expectError(
      await admin.request('PUT', '/tenants/Bad_Id', { json: entry() }),
      400,
      'VALIDATION_ERROR',
      'tenant',
    );
    await expectError(await admin.request('GET', `/tenants/${id}`), 404, 'NOT_FOUND');
  });

  it('deletes a tenant: its tokens are refused from then on, and it is gone from the list', async () => {
    const { admin, id, asUser } = setup();
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry() })).status).toBe(201);
    expect((await asUser('alice')).status).toBe(200);
    expect((await admin.request('DELETE', `/tenants/${id}`)).status).toBe(204);
    await expectError(await asUser('alice'), 401, 'UNAUTHORIZED');
    await expectError(await admin.request('GET', `/tenants/${id}`), 404, 'NOT_FOUND');
    await expectError(await admin.request('DELETE', `/tenants/${id}`), 404, 'NOT_FOUND');
  });

  it('writes every change to the audit trail: the key digest prefix, what and when, no secret', async () => {
    const { admin, id } = setup();
    await admin.request('PUT', `/tenants/${id}`, { json: entry() });
    await admin.request('PATCH', `/tenants/${id}`, { json: { tool_calls: 'none' } });
    await admin.request('POST', `/tenants/${id}/users/mallory/block`);
    await admin.request('DELETE', `/tenants/${id}`);
    const res = await admin.request('GET', `/audit?tenant=${id}`);
    const text = await res.clone().text();
    expectNoSecrets(text, [SECRET, WEBHOOK]);
    const { entries } = await parseJson(res, AuditSchema);
    const actor = ADMIN_KEY_HASH.slice(0, 12);
    expect(entries.map((e) => [e.action, e.actor, e.subject])).toEqual([
      ['tenant.delete', actor, null],
      ['user.block', actor, 'mallory'],
      ['tenant.patch', actor, null],
      ['tenant.create', actor, null],
    ]);
    expect(entries[2]?.detail).toEqual({ fields: ['tool_calls'] });
  });
});

describe('admin API: tenant bodies', () => {
  /** A tenant of this test and a check that nothing of it changed since it was written. */
  async function written() {
    const { gw, admin, id } = setup();
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry() })).status).toBe(201);
    const before = await parseJson(await admin.request('GET', `/tenants/${id}`), TenantViewSchema);
    const unchanged = async () => {
      const after = await parseJson(await admin.request('GET', `/tenants/${id}`), TenantViewSchema);
      expect(after).toEqual(before);
      const { entries } = await parseJson(await admin.request('GET', `/audit?tenant=${id}`), AuditSchema);
      expect(entries.map((e) => e.action)).toEqual(['tenant.create']);
    };
    const send = (method: string, body: string, type?: string) =>
      admin.request(method, `/tenants/${id}`, {
        body,
        headers: type === undefined ? {} : { 'content-type': type },
      });
    return { gw, admin, id, send, unchanged };
  }

  it('takes a PATCH as application/merge-patch+json or application/json only, else 415', async () => {
    const { send, unchanged } = await written();
    const patch = '{"tool_calls":"none"}';
    for (const type of [
      'application/json-patch+json',
      'application/vnd.acme+json',
      'application/merge-patch+json-seq',
      'text/plain',
      'application/x-www-form-urlencoded',
      undefined,
    ]) {
      await expectError(await send('PATCH', patch, type), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    // An RFC 6902 JSON Patch is a list of operations, not a merge patch: refused for its type.
    const ops = '[{"op":"replace","path":"/tool_calls","value":"none"}]';
    await expectError(await send('PATCH', ops, 'application/json-patch+json'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await unchanged();
    // Either type is read in any case and with parameters.
    for (const [type, tool_calls] of [
      ['application/merge-patch+json; charset=utf-8', 'none'],
      ['Application/JSON', 'full'],
    ]) {
      const res = await send('PATCH', JSON.stringify({ tool_calls }), type);
      expect(res.status, await res.clone().text()).toBe(200);
      expect((await parseJson(res, TenantViewSchema)).config).toMatchObject({ tool_calls });
    }
  });

  it('takes a PUT as application/json only, else 415, creating and replacing nothing', async () => {
    const { gw, admin, id, send, unchanged } = await written();
    const body = JSON.stringify(entry({ tool_calls: 'none' }));
    const fresh = `${id}-new`;
    const watch = await watchUpstream(gw.emulator);
    for (const type of [
      'application/vnd.acme+json',
      'application/merge-patch+json',
      'application/json-patch+json',
      'application/json-seq',
      'text/plain',
      'text/json',
      undefined,
    ]) {
      await expectError(await send('PUT', body, type), 415, 'UNSUPPORTED_MEDIA_TYPE');
      const create = await admin.request('PUT', `/tenants/${fresh}`, {
        body,
        headers: type === undefined ? {} : { 'content-type': type },
      });
      await expectError(create, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    await unchanged();
    await expectError(await admin.request('GET', `/tenants/${fresh}`), 404, 'NOT_FOUND');
    const { entries } = await parseJson(await admin.request('GET', `/audit?tenant=${fresh}`), AuditSchema);
    expect(entries).toEqual([]);
    await watch.expectNone();
    // application/json is read in any case and with parameters.
    for (const [type, tool_calls] of [
      ['application/json; charset=utf-8', 'none'],
      ['Application/JSON', 'full'],
    ]) {
      const res = await send('PUT', JSON.stringify(entry({ tool_calls })), type);
      expect(res.status, await res.clone().text()).toBe(200);
      expect((await parseJson(res, TenantViewSchema)).config).toMatchObject({ tool_calls });
    }
  });

  it('refuses a PUT or PATCH nested deeper than 64 levels with the 400 of every route, writing nothing', async () => {
    const { gw, admin, id, send, unchanged } = await written();
    /** `n` levels of objects: `{"a":{"a":...1}}`. */
    const nested = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const fresh = `${id}-new`;
    const watch = await watchUpstream(gw.emulator);
    // 10 000 levels overflowed the merge or the validator (a RangeError's field-less 400);
    // 64 under `limits` are 65 with the body: one over.
    for (const depth of [10_000, 64]) {
      const limits = `{"limits":${nested(depth)}}`;
      const put = JSON.stringify(entry()).replace('{', `{"limits":${nested(depth)},`);
      for (const [method, path, body, type] of [
        ['PATCH', `/tenants/${id}`, limits, 'application/merge-patch+json'],
        ['PATCH', `/tenants/${id}`, limits, 'application/json'],
        ['PUT', `/tenants/${id}`, put, 'application/json'],
        ['PUT', `/tenants/${fresh}`, put, 'application/json'],
      ] as const) {
        const res = await admin.request(method, path, { body, headers: { 'content-type': type } });
        const text = await res.clone().text();
        const refused = await expectError(res, 400, 'BAD_REQUEST');
        expect({ depth, method, detail: refused.detail }, text).toEqual({
          depth,
          method,
          detail: 'JSON bodies may nest at most 64 levels.',
        });
      }
    }
    // 64 levels, the body included, is not too deep: the schema answers it, naming the field.
    await expectError(
      await send('PATCH', `{"limits":${nested(63)}}`, 'application/json'),
      400,
      'VALIDATION_ERROR',
      /^limits/,
    );
    await unchanged();
    await expectError(await admin.request('GET', `/tenants/${fresh}`), 404, 'NOT_FOUND');
    const { entries } = await parseJson(await admin.request('GET', `/audit?tenant=${fresh}`), AuditSchema);
    expect(entries).toEqual([]);
    await watch.expectNone();
  });

  it('refuses a __proto__ key anywhere in a PATCH with 400 naming it, writing nothing', async () => {
    const { send, unchanged } = await written();
    const cases: [string, string][] = [
      ['{"__proto__":{"tool_calls":"full"}}', '__proto__'],
      ['{"__proto__":null}', '__proto__'],
      ['{"tool_calls":"full","limits":{"__proto__":{"burst":3}}}', 'limits.__proto__'],
      [`{"auth":{"hs256":[{"kid":"k","secret":"${NEXT_SECRET}","__proto__":{}}]}}`, 'auth.hs256.0.__proto__'],
    ];
    for (const [body, field] of cases) {
      for (const type of ['application/merge-patch+json', 'application/json']) {
        const refused = await expectError(await send('PATCH', body, type), 400, 'VALIDATION_ERROR', field);
        expect(refused.detail).toContain(field);
        expect(refused.detail).not.toContain(NEXT_SECRET);
      }
    }
    // `constructor` and `prototype` are plain keys, refused as the unknown fields they are.
    for (const field of ['constructor', 'prototype']) {
      const body = `{"${field}":{"tool_calls":"full"}}`;
      await expectError(await send('PATCH', body, 'application/json'), 400, 'VALIDATION_ERROR', field);
    }
    await unchanged();
  });

  it('refuses a __proto__ key in a PUT with 400 naming it, creating and replacing nothing', async () => {
    const { admin, id, send, unchanged } = await written();
    const body = JSON.stringify(entry({ tool_calls: 'full' })).replace(
      '{',
      '{"__proto__":{"tool_calls":"none"},',
    );
    await expectError(await send('PUT', body, 'application/json'), 400, 'VALIDATION_ERROR', '__proto__');
    await unchanged();
    const fresh = `${id}-new`;
    const create = await admin.request('PUT', `/tenants/${fresh}`, {
      body,
      headers: { 'content-type': 'application/json' },
    });
    await expectError(create, 400, 'VALIDATION_ERROR', '__proto__');
    await expectError(await admin.request('GET', `/tenants/${fresh}`), 404, 'NOT_FOUND');
  });
});

describe('admin API: seeding from TENANTS', () => {
  it('audits a seed with the tenants it wrote, not every id of TENANTS', async () => {
    const { gw, admin } = setup();
    const suffix = unique();
    const [owned, changed, added, deleted, same] = [
      `seed-owned-${suffix}`,
      `seed-changed-${suffix}`,
      `seed-added-${suffix}`,
      `seed-deleted-${suffix}`,
      `seed-same-${suffix}`,
    ];
    const first = { [owned]: entry(), [changed]: entry(), [deleted]: entry(), [same]: entry() };
    /** The operator of a gateway whose `TENANTS` is `tenants`: its first request seeds them. */
    const seeding = (tenants: Record<string, unknown>) =>
      operator({ ...gw.overrides, TENANTS: JSON.stringify(tenants) });
    const SeedAudit = z.object({ digest: z.string(), tenants: z.array(z.string()) });
    /** The tenants of each `registry.seed` row naming any id of this test, oldest first. */
    const seeds = async () => {
      const { entries } = await parseJson(await admin.request('GET', '/audit?limit=1000'), AuditSchema);
      const ours = new Set([owned, changed, added, deleted, same]);
      return entries
        .filter((e) => e.action === 'registry.seed')
        .map((e) => SeedAudit.parse(e.detail).tenants.toSorted())
        .filter((tenants) => tenants.some((t) => ours.has(t)))
        .reverse();
    };

    expect((await seeding(first).request('GET', '/tenants')).status).toBe(200);
    expect(await seeds()).toEqual([[owned, changed, deleted, same].sort()]);
    // The admin API takes two of them over: one edited, one deleted.
    expect(
      (await admin.request('PUT', `/tenants/${owned}`, { json: entry({ tool_calls: 'full' }) })).status,
    ).toBe(200);
    expect((await admin.request('DELETE', `/tenants/${deleted}`)).status).toBe(204);
    const ownedBefore = await parseJson(await admin.request('GET', `/tenants/${owned}`), TenantViewSchema);
    const sameBefore = await parseJson(await admin.request('GET', `/tenants/${same}`), TenantViewSchema);

    // A new TENANTS value: every entry but `same` differs, and one is new.
    const next = {
      [owned]: entry({ tool_calls: 'none' }),
      [changed]: entry({ tool_calls: 'none' }),
      [added]: entry(),
      [deleted]: entry({ tool_calls: 'none' }),
      [same]: entry(),
    };
    expect((await seeding(next).request('GET', '/tenants')).status).toBe(200);
    expect(await seeds()).toEqual([[owned, changed, deleted, same].sort(), [changed, added].sort()]);
    // What the row leaves out was indeed not written.
    expect(await parseJson(await admin.request('GET', `/tenants/${owned}`), TenantViewSchema)).toEqual(
      ownedBefore,
    );
    expect(await parseJson(await admin.request('GET', `/tenants/${same}`), TenantViewSchema)).toEqual(
      sameBefore,
    );
    await expectError(await admin.request('GET', `/tenants/${deleted}`), 404, 'NOT_FOUND');
    const changedNow = await parseJson(await admin.request('GET', `/tenants/${changed}`), TenantViewSchema);
    expect(changedNow).toMatchObject({ source: 'TENANTS', config: { tool_calls: 'none' } });
  });
});

describe('admin API: blocked users', () => {
  it('refuses a blocked user with 403 USER_BLOCKED and no upstream call, then lets them back in', async () => {
    const { gw, admin, id, asUser } = setup();
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry() })).status).toBe(201);
    expect((await asUser('mallory')).status).toBe(200);

    const blocked = await admin.request('POST', `/tenants/${id}/users/mallory/block`);
    expect(await blocked.json()).toEqual({ tenant: id, user: 'mallory', blocked: true });
    const watch = await watchUpstream(gw.emulator);
    await expectError(await asUser('mallory'), 403, 'USER_BLOCKED');
    await watch.expectNone();
    // A thread creation is refused too, and the upstream creates (and bills) nothing for it.
    const token = await sessionToken(SECRET, { tenant: id, sub: 'mallory' });
    const create = await gw.fetch('/v1/threads', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    await expectError(create, 403, 'USER_BLOCKED');
    expect((await watch.requests()).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    // Only that user: another of the tenant is served.
    expect((await asUser('alice')).status).toBe(200);
    const list = await admin.request('GET', `/tenants/${id}/blocks`);
    expect(await list.json()).toMatchObject({ tenant: id, users: [{ user: 'mallory' }] });

    const unblocked = await admin.request('DELETE', `/tenants/${id}/users/mallory/block`);
    expect(await unblocked.json()).toEqual({ tenant: id, user: 'mallory', blocked: false });
    expect((await asUser('mallory')).status).toBe(200);
  });

  it('cancels the runs a blocked user has running, and only theirs', async () => {
    const { gw, admin, id } = setup();
    expect((await admin.request('PUT', `/tenants/${id}`, { json: entry() })).status).toBe(201);
    await gw.emulator.configure({
      reply: 'one two three four five six seven eight',
      stream: { pace_ms: 300 },
    });
    const runAs = async (sub: string) => {
      const headers = { authorization: `Bearer ${await sessionToken(SECRET, { tenant: id, sub })}` };
      const created = await gw.fetch('/v1/threads', {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: '{}',
      });
      const { thread_id } = await parseJson(created, z.object({ thread_id: z.string() }));
      const res = await gw.fetch(`/v1/threads/${thread_id}/run`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'long' }),
      });
      const reader = new SseReader(res);
      expect((await reader.nextEvent())?.event).toBe('start');
      return reader;
    };
    const [mallory, alice] = [await runAs('mallory'), await runAs('alice')];
    expect((await admin.request('POST', `/tenants/${id}/users/mallory/block`)).status).toBe(200);
    // Ended by the time the block is answered: its next frame is the cancellation.
    const last = eventsOf(await mallory.rest()).at(-1);
    expect(last).toMatchObject({ type: 'error', code: 'RUN_CANCELLED' });
    // Another user's run goes on to its end.
    expect(eventsOf(await alice.rest()).at(-1)).toEqual({ type: 'done' });
  });

  it('answers 404 for the users of a tenant it does not know', async () => {
    const { admin, id } = setup();
    await expectError(await admin.request('POST', `/tenants/${id}/users/u/block`), 404, 'NOT_FOUND');
  });
});

describe('admin API: the account', () => {
  it("shows the upstream account's threads and tier, and the governor's budget", async () => {
    const { gw, admin } = setup();
    await gw.emulator.setAccount({ thread_counter: 12, thread_max: 100, subscription_tier: 'pro' });
    const res = await admin.request('GET', '/account');
    const text = await res.clone().text();
    expect(res.status, text).toBe(200);
    expectNoSecrets(text);
    // The whole shape the README documents, no field more or less.
    expect(await res.json()).toEqual({
      thread_counter: 12,
      thread_max: 100,
      threads_remaining: 88,
      tier: 'pro',
      reserve: 10,
      governor: {
        limit: expect.any(Number),
        synced: expect.any(Boolean),
        window: { reset_at: expect.any(Number), budget: expect.any(Number), used: expect.any(Number) },
        blocked_until: null,
      },
    });
  });
});
