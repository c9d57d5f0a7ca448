import { describe, expect, it } from 'vitest';
import type { ApiError } from '../../src/errors';
import {
  listOf,
  UpstreamAssistantListSchema,
  UpstreamDbPutSchema,
  UpstreamThreadSchema,
} from '../../src/upstream/schemas';
import { CANARY_INSTRUCTIONS, CANARY_INTERNAL } from '../emulator/canaries';
import { rejection, upstreamUniverse } from '../helpers/upstream';

const setup = (password?: string) => upstreamUniverse('req-upstream-test', password);

const listAssistants = {
  method: 'GET',
  path: ['assistants'],
  trailingSlash: true,
  scope: 'project:proj_acme',
} as const;

describe('UpstreamClient: requests and parsing', () => {
  it('lists assistants with the project token, keeping only id and name', async () => {
    const { emulator, client } = setup();
    const assistants = await client().json(listAssistants, UpstreamAssistantListSchema);
    expect(assistants.map((a) => a.assistant_id)).toContain('asst_support');
    expect(JSON.stringify(assistants)).not.toContain(CANARY_INSTRUCTIONS);
    const stats = await emulator.stats();
    expect(stats.requests['GET /assistants/']).toBe(1);
    expect(stats.logins).toBe(1);
  });

  it.each([
    ['object', 'jwt_token'],
    ['array', 'token'],
  ] as const)('parses %s lists with the token in %s', async (listShape, tokenField) => {
    const { emulator, client } = setup();
    await emulator.configure({ list_shape: listShape, token_field: tokenField });
    const scope = 'project:proj_globex' as const;
    const created = await client().json(
      {
        method: 'POST',
        path: ['threads'],
        trailingSlash: true,
        json: { assistant_id: 'asst_support' },
        scope,
      },
      UpstreamThreadSchema,
    );
    const threads = await client().json(
      { method: 'GET', path: ['threads'], trailingSlash: true, scope },
      listOf(UpstreamThreadSchema, 'threads'),
    );
    expect(threads.map((t) => t.thread_id)).toEqual([created.thread_id]);
    expect(JSON.stringify(threads)).not.toContain(CANARY_INTERNAL);
  });

  it('sends each project only its own token, and the account token only to account routes', async () => {
    const { emulator, tokens, client } = setup();
    const ids: Record<string, string> = {};
    for (const project of ['proj_acme', 'proj_globex'] as const) {
      const scope = `project:${project}` as const;
      const thread = await client().json(
        {
          method: 'POST',
          path: ['threads'],
          trailingSlash: true,
          json: { assistant_id: 'asst_support' },
          scope,
        },
        UpstreamThreadSchema,
      );
      ids[project] = thread.thread_id;
    }
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const project = i % 2 === 0 ? 'proj_acme' : 'proj_globex';
        return client().json(
          {
            method: 'PUT',
            path: ['db', project, ids[project] ?? '', `k${i}`],
            json: { value: { i } },
            scope: `project:${project}`,
          },
          UpstreamDbPutSchema,
        );
      }),
    );
    const acme = `Bearer ${await tokens.get('project:proj_acme')}`;
    const globex = `Bearer ${await tokens.get('project:proj_globex')}`;
    const accountToken = `Bearer ${await tokens.get('account')}`;
    const log = (await emulator.stats()).request_log;
    const auth = (prefix: string) =>
      new Set(log.filter((e) => e.path.startsWith(prefix)).map((e) => e.authorization));
    expect(auth('/db/proj_acme/')).toEqual(new Set([acme]));
    expect(auth('/db/proj_globex/')).toEqual(new Set([globex]));
    expect(auth('/projects/')).toEqual(new Set([accountToken]));
    expect(auth('/auth/login')).toEqual(new Set([null]));
    expect(log.every((e) => e.status < 400)).toBe(true);
  });

  it('refuses invalid path segments before any upstream call', async () => {
    const { emulator, client } = setup();
    const upstream = client();
    await expect(
      upstream.request({ method: 'GET', path: ['threads', '..'], scope: 'account' }),
    ).rejects.toThrow();
    expect(upstream.upstreamCalls).toBe(0);
    expect((await emulator.stats()).request_log).toEqual([]);
  });
});

describe('UpstreamClient: tokens', () => {
  it('answers 100 concurrent requests after revocation with exactly one new login', async () => {
    const { emulator, client } = setup();
    await client().json(listAssistants, UpstreamAssistantListSchema);
    await emulator.revokeTokens();
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () => client().json(listAssistants, UpstreamAssistantListSchema)),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const stats = await emulator.stats();
    expect(stats.logins).toBe(2);
    expect(stats.login_failures).toBe(0);
    // One 401 on the revoked account token, one fetch after the re-login.
    expect(stats.requests['GET /projects/:project_id']).toBe(3);
  });

  it('refreshes and replays once on a 401, without a new login', async () => {
    const { emulator, client } = setup();
    await client().json(listAssistants, UpstreamAssistantListSchema);
    await emulator.configure({
      status_overrides: [{ method: 'GET', path: '/assistants/', status: 401, times: 1 }],
    });
    const upstream = client();
    await upstream.json(listAssistants, UpstreamAssistantListSchema);
    expect(upstream.upstreamCalls).toBe(2);
    const stats = await emulator.stats();
    expect(stats.request_log.filter((e) => e.path === '/assistants/').map((e) => e.status)).toEqual([
      200, 401, 200,
    ]);
    expect(stats.logins).toBe(1);
    expect(stats.requests['GET /projects/:project_id']).toBe(2);
  });

  it('replays a POST once on a 401 (the only replay a POST gets)', async () => {
    const { emulator, client } = setup();
    await emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 401, times: 1 }],
    });
    const thread = await client().json(
      {
        method: 'POST',
        path: ['threads'],
        trailingSlash: true,
        json: { assistant_id: 'asst_support' },
        scope: 'project:proj_acme',
      },
      UpstreamThreadSchema,
    );
    expect(thread.thread_id).toMatch(/^thread_/);
    expect((await emulator.stats()).requests['POST /threads/']).toBe(2);
  });

  it('turns a second 401 into 503 UPSTREAM_UNAVAILABLE, never a 401', async () => {
    const { emulator, client } = setup();
    await emulator.configure({
      status_overrides: [
        {
          method: 'GET',
          path: '/assistants/',
          status: 401,
          times: 2,
          body: { detail: 'token eyJabc.def.ghi' },
        },
      ],
    });
    const upstream = client();
    const err = await rejection(upstream.json(listAssistants, UpstreamAssistantListSchema));
    expect(err.status).toBe(503);
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.retryAfter).toBeGreaterThan(0);
    expect(err.detail).not.toContain('eyJ');
    expect(upstream.upstreamCalls).toBe(2);
    expect((await emulator.stats()).requests['GET /assistants/']).toBe(2);
  });

  it('wrong password: 50 requests, at most 2 logins, 503 with Retry-After, no resource call', async () => {
    const { emulator, client } = setup('wrong-password');
    const errors: ApiError[] = [];
    const batch = await Promise.all(
      Array.from({ length: 25 }, () => rejection(client().request(listAssistants))),
    );
    errors.push(...batch);
    for (let i = 0; i < 25; i += 1) errors.push(await rejection(client().request(listAssistants)));
    for (const err of errors) {
      expect(err.status).toBe(503);
      expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(err.retryAfter).toBeGreaterThan(0);
    }
    const stats = await emulator.stats();
    expect(stats.login_failures).toBeGreaterThanOrEqual(1);
    expect(stats.login_failures).toBeLessThanOrEqual(2);
    expect(stats.requests['GET /assistants/']).toBeUndefined();
    expect(stats.requests['GET /projects/:project_id']).toBeUndefined();
  });
});
