import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CANARY_INSTRUCTIONS, CANARY_INTERNAL } from '../../emulator/canaries';
import { bearer, createThread, freshEmulator, loginAndGetProjectToken } from '../../helpers/emulator';

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
      const list = (await res.json()) as Record<string, unknown>[];
      expect(list.map((p) => p.project_id)).toEqual(['proj_acme', 'proj_globex', 'proj_demo']);
      expect(list[0]).toMatchObject({ name: expect.any(String), created_at: expect.any(String) });
      expect(list[0]?.access_token).toMatch(/^ey/);
    }
  });

  it('list_shape=object wraps the list', async () => {
    await emu.configure({ list_shape: 'object' });
    const body = (await (await call('GET', '/projects/', account)).json()) as {
      projects: unknown[];
      total: number;
    };
    expect(body.total).toBe(3);
    expect(body.projects).toHaveLength(3);
  });

  it('POST /projects/ creates (201), GET returns it with tokens, DELETE needs confirm=true', async () => {
    expect((await call('POST', '/projects/', account, {})).status).toBe(422);
    const res = await call('POST', '/projects/', account, { name: 'Tmp', description: 'd' });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { project_id: string; access_token: string };
    expect(created).toMatchObject({ name: 'Tmp', description: 'd', created_at: expect.any(String) });
    expect(created.access_token).toMatch(/^ey/);
    const got = (await (await call('GET', `/projects/${created.project_id}`, account)).json()) as Record<
      string,
      unknown
    >;
    expect(got.token).toBe(got.access_token);
    expect(got.jwt_token).toBe(got.access_token);
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
    const list = (await (await call('GET', '/assistants', project)).json()) as Record<string, unknown>[];
    expect(list.map((a) => a.assistant_id)).toEqual(['asst_support', 'asst_sales', 'asst_internal']);
    expect(list.map((a) => a.name)).toEqual(['Support Agent', 'Sales Agent', 'Internal Ops']);
    const config = list[0]?.config as Record<string, unknown>;
    expect(config.instructions).toContain(CANARY_INSTRUCTIONS);
    expect(config).toMatchObject({
      model: 'gpt-4o',
      configurable: { type: 'agent' },
      tools: expect.any(Array),
    });
    await emu.configure({ list_shape: 'object' });
    const wrapped = (await (await call('GET', '/assistants/', project)).json()) as { total: number };
    expect(wrapped).toMatchObject({ assistants: expect.any(Array), total: 3 });
  });

  it('POST, GET and DELETE /assistants/{id}', async () => {
    const res = await call('POST', '/assistants/', project, {
      name: 'R',
      config: { model: 'x' },
      public: true,
    });
    expect(res.status).toBe(201);
    const a = (await res.json()) as { assistant_id: string };
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
    const before = (await (await call('GET', '/credits/balance', account)).json()) as {
      thread_counter: number;
    };
    const res = await call('POST', '/threads/', project, { name: 'T', assistant_id: 'asst_sales' });
    expect(res.status).toBe(201);
    const t = (await res.json()) as { thread_id: string };
    expect(t).toMatchObject({ name: 'T', assistant_id: 'asst_sales', _internal: CANARY_INTERNAL });
    const after = (await (await call('GET', '/credits/balance', account)).json()) as {
      thread_counter: number;
    };
    expect(after.thread_counter).toBe(before.thread_counter + 1);
    const list = (await (await call('GET', '/threads', project)).json()) as Record<string, unknown>[];
    expect(list.find((x) => x.thread_id === t.thread_id)).toMatchObject({ _internal: CANARY_INTERNAL });
    await emu.configure({ list_shape: 'object' });
    const wrapped = (await (await call('GET', '/threads/', project)).json()) as {
      threads: unknown[];
      total: number;
    };
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
    const info = (await (await call('GET', '/auth/thread-info', account)).json()) as {
      thread_counter: number;
    };
    expect(info.thread_counter).toBe(1000);
    await emu.setAccount({ thread_counter: 0 });
  });

  it('GET /threads/{id} includes messages; DELETE is 204 then 404', async () => {
    const id = await createThread(base, project);
    await call('POST', `/threads/${id}/messages`, project, { role: 'user', content: 'hi' });
    const res = await call('GET', `/threads/${id}`, project);
    expect(res.status).toBe(200);
    const t = (await res.json()) as { messages: Record<string, unknown>[] };
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
      ids.push(((await res.json()) as { message_id: string }).message_id);
    }
    type Page = { messages: { content: string; message_id: string }[]; has_more: boolean };
    const page = async (q: string) =>
      (await (await call('GET', `/threads/${id}/messages${q}`, project)).json()) as Page;
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
    const get = async (q: string) =>
      (await (await call('GET', `/threads/${id}/messages${q}`, project)).json()) as { messages: unknown[] };
    expect((await get('')).messages).toHaveLength(50);
    expect((await get('?limit=500')).messages).toHaveLength(100);
    expect(
      (await call('POST', `/threads/${id}/messages`, project, { role: 'robot', content: 'x' })).status,
    ).toBe(422);
    expect((await call('GET', '/threads/thread_nope/messages', project)).status).toBe(404);
  });
});

describe('credits', () => {
  it('GET /credits/balance and POST /credits/checkout', async () => {
    await emu.setAccount({ thread_counter: 45, thread_max: 100 });
    expect(await (await call('GET', '/credits/balance', account)).json()).toEqual({
      thread_counter: 45,
      thread_max: 100,
      threads_remaining: 55,
      subscription_tier: 'standard',
    });
    await emu.setAccount({ thread_counter: 0, thread_max: 1000 });
    const res = await call('POST', '/credits/checkout', account, { quantity: 1000, amount: 80 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { url: string; session_id: string };
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
