import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANARY_INSTRUCTIONS, CANARY_INTERNAL } from '../../emulator/canaries';
import { bearer, createThread, freshEmulator, loginAndGetProjectToken } from '../../helpers/emulator';
import { JsonObject, parseJson } from '../../helpers/json';

const emu = freshEmulator('res');
const base = emu.baseUrl;
let account = '';
let project = '';

function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, headers: bearer(token) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...bearer(token), 'content-type': 'application/json' };
  }
  return fetch(`${base}${path}`, init);
}

const JsonObjects = z.array(JsonObject);
const Counter = z.looseObject({ thread_counter: z.number() });
const Page = z.looseObject({
  messages: z.array(z.looseObject({ content: z.string(), message_id: z.string() })),
  has_more: z.boolean(),
});

/** `GET path` with `token`, its body through `schema`. */
async function getJson<S extends z.ZodType>(path: string, token: string, schema: S): Promise<z.output<S>> {
  return parseJson(await call('GET', path, token), schema);
}

beforeAll(async () => {
  await emu.reset();
  await emu.configure({ rate_limit_per_minute: 10_000 });
  ({ accountToken: account, projectToken: project } = await loginAndGetProjectToken(base, 'proj_acme'));
});

beforeEach(async () => {
  await emu.configure({ list_shape: 'array' });
});

describe('projects', () => {
  it('GET /projects/ lists the seeded projects with tokens, with or without the slash', async () => {
    for (const path of ['/projects/', '/projects']) {
      const res = await call('GET', path, account);
      expect(res.status).toBe(200);
      const list = await parseJson(res, JsonObjects);
      expect(list.map((p) => p.project_id)).toEqual(['proj_acme', 'proj_globex', 'proj_demo']);
      expect(list[0]).toMatchObject({ name: expect.any(String), created_at: expect.any(String) });
      expect(list[0]?.access_token).toMatch(/^ey/);
    }
  });

  it('list_shape=object wraps the list', async () => {
    await emu.configure({ list_shape: 'object' });
    const body = await getJson(
      '/projects/',
      account,
      z.looseObject({ projects: z.array(z.unknown()), total: z.number() }),
    );
    expect(body.total).toBe(3);
    expect(body.projects).toHaveLength(3);
  });

  /** `POST /projects/` (201 expected); resolves to the new project. */
  async function newProject() {
    const res = await call('POST', '/projects/', account, { name: 'Tmp', description: 'd' });
    expect(res.status).toBe(201);
    return parseJson(res, z.looseObject({ project_id: z.string(), access_token: z.string() }));
  }

  it('POST /projects/ answers 422 without a name', async () => {
    expect((await call('POST', '/projects/', account, {})).status).toBe(422);
  });

  it('POST /projects/ creates (201) a project with a token', async () => {
    const created = await newProject();
    expect(created).toMatchObject({ name: 'Tmp', description: 'd', created_at: expect.any(String) });
    expect(created.access_token).toMatch(/^ey/);
  });

  it('GET /projects/{id} returns it with the token in all three fields', async () => {
    const created = await newProject();
    const got = await getJson(`/projects/${created.project_id}`, account, JsonObject);
    expect(got.token).toBe(got.access_token);
    expect(got.jwt_token).toBe(got.access_token);
  });

  it('DELETE /projects/{id} needs confirm=true, then removes it and its token', async () => {
    const created = await newProject();
    const refused = await call('DELETE', `/projects/${created.project_id}`, account);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'Bad Request', field: 'confirm' });
    expect((await call('DELETE', `/projects/${created.project_id}?confirm=true`, account)).status).toBe(204);
    expect((await call('GET', `/projects/${created.project_id}`, account)).status).toBe(404);
    expect((await call('GET', '/threads/', created.access_token)).status).toBe(401);
  });
});

describe('assistants', () => {
  it('GET /assistants/ lists the three seeded assistants with secret config', async () => {
    const list = await getJson('/assistants', project, z.array(z.looseObject({ config: JsonObject })));
    expect(list.map((a) => a.assistant_id)).toEqual(['asst_support', 'asst_sales', 'asst_internal']);
    expect(list.map((a) => a.name)).toEqual(['Support Agent', 'Sales Agent', 'Internal Ops']);
    const config = list[0]?.config;
    expect(config?.instructions).toContain(CANARY_INSTRUCTIONS);
    expect(config).toMatchObject({
      model: 'gpt-4o',
      configurable: { type: 'agent' },
      tools: expect.any(Array),
    });
  });

  it('list_shape=object wraps the assistants', async () => {
    await emu.configure({ list_shape: 'object' });
    const wrapped = await getJson('/assistants/', project, JsonObject);
    expect(wrapped).toMatchObject({ assistants: expect.any(Array), total: 3 });
  });

  it('POST, GET and DELETE /assistants/{id}', async () => {
    const res = await call('POST', '/assistants/', project, {
      name: 'R',
      config: { model: 'x' },
      public: true,
    });
    expect(res.status).toBe(201);
    const a = await parseJson(res, z.looseObject({ assistant_id: z.string() }));
    expect(a).toMatchObject({ name: 'R', config: { model: 'x' }, public: true });
    expect((await call('GET', `/assistants/${a.assistant_id}`, project)).status).toBe(200);
    expect((await call('DELETE', `/assistants/${a.assistant_id}`, project)).status).toBe(204);
    const gone = await call('GET', `/assistants/${a.assistant_id}`, project);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({
      error: 'Not Found',
      detail: `Assistant ${a.assistant_id} not found`,
    });
    expect((await call('POST', '/assistants/', project, { config: {} })).status).toBe(422);
  });
});

describe('threads', () => {
  it('POST /threads/ creates (201) with _internal and counts against the account', async () => {
    const before = await getJson('/credits/balance', account, Counter);
    const res = await call('POST', '/threads/', project, { name: 'T', assistant_id: 'asst_sales' });
    expect(res.status).toBe(201);
    const t = await parseJson(res, z.looseObject({ thread_id: z.string() }));
    expect(t).toMatchObject({ name: 'T', assistant_id: 'asst_sales', _internal: CANARY_INTERNAL });
    const after = await getJson('/credits/balance', account, Counter);
    expect(after.thread_counter).toBe(before.thread_counter + 1);
    const list = await getJson('/threads', project, JsonObjects);
    expect(list.find((x) => x.thread_id === t.thread_id)).toMatchObject({ _internal: CANARY_INTERNAL });
  });

  it('list_shape=object wraps the threads with their total', async () => {
    await call('POST', '/threads/', project, { assistant_id: 'asst_support' });
    await emu.configure({ list_shape: 'object' });
    const wrapped = await getJson(
      '/threads/',
      project,
      z.looseObject({ threads: z.array(z.unknown()), total: z.number() }),
    );
    expect(wrapped.total).toBe(wrapped.threads.length);
  });

  it('validates: 422 without assistant_id, 404 for an unknown assistant', async () => {
    const res = await call('POST', '/threads/', project, { name: 'x' });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: 'Validation Error',
      detail: "Field 'assistant_id' is required",
      field: 'assistant_id',
    });
    expect((await call('POST', '/threads/', project, { assistant_id: 'asst_nope' })).status).toBe(404);
  });

  it('answers 403 THREAD_LIMIT at thread_max', async () => {
    await emu.setAccount({ thread_counter: 999, thread_max: 1000 });
    expect((await call('POST', '/threads/', project, { assistant_id: 'asst_support' })).status).toBe(201);
    const res = await call('POST', '/threads/', project, { assistant_id: 'asst_support' });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'Forbidden',
      detail: 'Thread limit reached',
      code: 'THREAD_LIMIT',
    });
    const info = await getJson('/auth/thread-info', account, Counter);
    expect(info.thread_counter).toBe(1000);
    await emu.setAccount({ thread_counter: 0 });
  });

  it('GET /threads/{id} includes messages; DELETE is 204 then 404', async () => {
    const id = await createThread(base, project);
    await call('POST', `/threads/${id}/messages`, project, { role: 'user', content: 'hi' });
    const res = await call('GET', `/threads/${id}`, project);
    expect(res.status).toBe(200);
    const t = await parseJson(res, z.looseObject({ messages: JsonObjects }));
    expect(t).toMatchObject({ thread_id: id, _internal: CANARY_INTERNAL });
    expect(t.messages).toEqual([
      {
        message_id: expect.stringMatching(/^msg_/),
        role: 'user',
        content: 'hi',
        timestamp: expect.any(String),
        _internal: CANARY_INTERNAL,
      },
    ]);
    expect((await call('DELETE', `/threads/${id}`, project)).status).toBe(204);
    expect((await call('GET', `/threads/${id}`, project)).status).toBe(404);
    expect((await call('DELETE', `/threads/${id}`, project)).status).toBe(404);
  });
});

describe('messages', () => {
  it('paginates newest-last with limit, before and has_more', async () => {
    const id = await createThread(base, project);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await call('POST', `/threads/${id}/messages`, project, { role: 'user', content: `m${i}` });
      expect(res.status).toBe(201);
      ids.push((await parseJson(res, z.looseObject({ message_id: z.string() }))).message_id);
    }
    const page = (q: string) => getJson(`/threads/${id}/messages${q}`, project, Page);
    const all = await page('');
    expect(all.messages.map((m) => m.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(all.has_more).toBe(false);
    const last3 = await page('?limit=3');
    expect(last3.messages.map((m) => m.content)).toEqual(['m4', 'm5', 'm6']);
    expect(last3.has_more).toBe(true);
    const older = await page(`?limit=3&before=${ids[4]}`);
    expect(older.messages.map((m) => m.content)).toEqual(['m1', 'm2', 'm3']);
    expect(older.has_more).toBe(true);
    const oldest = await page(`?limit=3&before=${ids[1]}`);
    expect(oldest.messages.map((m) => m.content)).toEqual(['m0']);
    expect(oldest.has_more).toBe(false);
  });

  it('answers 422 for limit=0 and an unknown cursor', async () => {
    const id = await createThread(base, project);
    expect((await call('GET', `/threads/${id}/messages?limit=0`, project)).status).toBe(422);
    expect((await call('GET', `/threads/${id}/messages?before=msg_nope`, project)).status).toBe(422);
  });

  it('defaults to 50 and caps limit at 100', async () => {
    const id = await createThread(base, project);
    await Promise.all(
      Array.from({ length: 105 }, (_, i) =>
        call('POST', `/threads/${id}/messages`, project, { role: 'assistant', content: `n${i}` }),
      ),
    );
    const get = (q: string) =>
      getJson(`/threads/${id}/messages${q}`, project, z.looseObject({ messages: z.array(z.unknown()) }));
    expect((await get('')).messages).toHaveLength(50);
    expect((await get('?limit=500')).messages).toHaveLength(100);
  });

  it('answers 422 for an unknown role and 404 for an unknown thread', async () => {
    const id = await createThread(base, project);
    expect(
      (await call('POST', `/threads/${id}/messages`, project, { role: 'robot', content: 'x' })).status,
    ).toBe(422);
    expect((await call('GET', '/threads/thread_nope/messages', project)).status).toBe(404);
  });
});

describe('credits', () => {
  it('GET /credits/balance reports the counter, the maximum and what is left', async () => {
    await emu.setAccount({ thread_counter: 45, thread_max: 100 });
    expect(await (await call('GET', '/credits/balance', account)).json()).toEqual({
      thread_counter: 45,
      thread_max: 100,
      threads_remaining: 55,
      subscription_tier: 'standard',
    });
    await emu.setAccount({ thread_counter: 0, thread_max: 1000 });
  });

  it('POST /credits/checkout answers a checkout session, and 422 for a bad quantity', async () => {
    const res = await call('POST', '/credits/checkout', account, { quantity: 1000, amount: 80 });
    expect(res.status).toBe(200);
    const body = await parseJson(res, z.looseObject({ url: z.string(), session_id: z.string() }));
    expect(body.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(body.session_id).toMatch(/^cs_/);
    expect((await call('POST', '/credits/checkout', account, { quantity: 0 })).status).toBe(422);
  });
});

describe('universes', () => {
  it('are isolated by host', async () => {
    const a = freshEmulator('iso');
    const b = freshEmulator('iso');
    const { projectToken: ta } = await loginAndGetProjectToken(a.baseUrl, 'proj_demo');
    await fetch(`${a.baseUrl}/threads/`, {
      method: 'POST',
      headers: { ...bearer(ta), 'content-type': 'application/json' },
      body: JSON.stringify({ assistant_id: 'asst_support' }),
    });
    await a.configure({ latency_ms: 1 });
    const { projectToken: tb } = await loginAndGetProjectToken(b.baseUrl, 'proj_demo');
    expect(await (await fetch(`${b.baseUrl}/threads/`, { headers: bearer(tb) })).json()).toEqual([]);
    expect((await b.config()).latency_ms).toBe(0);
    expect((await a.stats()).requests['POST /threads/']).toBe(1);
    expect((await b.stats()).requests['POST /threads/']).toBeUndefined();
    expect((await fetch(`${b.baseUrl}/threads/`, { headers: bearer(ta) })).status).toBe(401);
  });
});
