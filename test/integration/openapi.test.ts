import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import pkg from '../../package.json';
import { createApp } from '../../src/app';
import { STATIC_ASSET_EXTENSION } from '../../src/routes/openapi';
import { JsonObject, parseJson } from '../helpers/json';
import { HTTP_METHODS, openApiProblems } from '../helpers/openapi';
import { callWorker } from '../helpers/worker';

// The parts of the document these tests read; everything else is kept for openApiProblems.
const ParameterSchema = z.looseObject({
  name: z.string(),
  in: z.string(),
  required: z.boolean().optional(),
  example: z.unknown().optional(),
  schema: z.looseObject({ example: z.unknown().optional() }).optional(),
});
const OperationSchema = z.looseObject({
  operationId: z.string().optional(),
  tags: z.array(z.string()).optional(),
  security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
  parameters: z.array(ParameterSchema).optional(),
  requestBody: z.unknown().optional(),
  [STATIC_ASSET_EXTENSION]: z.boolean().optional(),
});
type Operation = z.output<typeof OperationSchema>;
const DocumentSchema = z.looseObject({ paths: z.record(z.string(), JsonObject) });

interface Documented {
  method: string;
  path: string;
  operation: Operation;
}

const WEBHOOK_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

async function fetchDocument() {
  const res = await callWorker('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return parseJson(res, DocumentSchema);
}

function operationsOf(doc: z.output<typeof DocumentSchema>): Documented[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => {
      const operation = item[method];
      return operation === undefined
        ? []
        : [{ method: method.toUpperCase(), path, operation: OperationSchema.parse(operation) }];
    }),
  );
}

/** Every `METHOD /path` the app routes (Hono's `:param` → `{param}`); `use` middleware is `ALL`. */
function servedRoutes(): string[] {
  const routes = createApp().routes.filter((route) => route.method !== 'ALL');
  const keys = routes.map((route) => `${route.method} ${route.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`);
  return [...new Set(keys)].sort();
}

/** The path with each parameter set to its documented example (or a valid id). */
function samplePath({ path, operation }: Documented): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const parameter = operation.parameters?.find((p) => p.in === 'path' && p.name === name);
    return String(parameter?.example ?? parameter?.schema?.example ?? 'x_1');
  });
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await fetchDocument();
    expect(openApiProblems(doc)).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
  });

  it("names this build's title and version", async () => {
    expect((await fetchDocument()).info).toMatchObject({ title: 'epsimo-edge', version: pkg.version });
  });

  it('has a relative server, so it works on any origin', async () => {
    expect((await fetchDocument()).servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('lists the statuses every session route may answer: 403 USER_BLOCKED, and 415 where it takes a body', async () => {
    const doc = await fetchDocument();
    const session = operationsOf(doc).filter((op) => op.operation.security?.some((r) => 'bearerAuth' in r));
    expect(session.length).toBeGreaterThan(10);
    for (const op of session) {
      const statuses = Object.keys(z.looseObject({ responses: JsonObject }).parse(op.operation).responses);
      const where = `${op.method} ${op.path}`;
      expect({ where, blocked: statuses.includes('403') }).toEqual({ where, blocked: true });
      if (op.operation.requestBody !== undefined)
        expect({ where, type: statuses.includes('415') }).toEqual({ where, type: true });
    }
    const hook = operationsOf(doc).find((op) => op.method === 'POST' && op.path === '/v1/hooks/{tenant}/run');
    const hookStatuses = Object.keys(
      z.looseObject({ responses: JsonObject }).parse(hook?.operation).responses,
    );
    expect(hookStatuses).toContain('409');
    // Its JSON body's media type is checked before anything else: a webhook answers 415 too.
    expect(hookStatuses).toContain('415');
  });

  it('declares the bearer JWT security scheme', async () => {
    const doc = await fetchDocument();
    expect(doc.components).toMatchObject({
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    });
  });

  it('documents every route the app serves and nothing it does not', async () => {
    const documented = operationsOf(await fetchDocument());
    const byWorker = documented.filter((op) => !op.operation[STATIC_ASSET_EXTENSION]);
    expect(byWorker.map((op) => `${op.method} ${op.path}`).sort()).toEqual(servedRoutes());
    // The contract's routes are all there (the list above could shrink with the app).
    expect(servedRoutes()).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /openapi.json',
        'POST /v1/threads/{thread_id}/run',
        'PUT /v1/threads/{thread_id}/db/{key}',
        'POST /v1/hooks/{tenant}/run',
      ]),
    );
  });

  it('serves the operations marked static assets from public/', async () => {
    const statics = operationsOf(await fetchDocument()).filter((op) => op.operation[STATIC_ASSET_EXTENSION]);
    // `/docs` and `/admin` are not Worker routes: Workers static assets answer them.
    expect(statics.map((op) => `${op.method} ${op.path}`).sort()).toEqual(['GET /admin', 'GET /docs']);
    for (const { path } of statics) {
      const res = await env.ASSETS.fetch(new URL(`${path}/`, 'https://edge.test'));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      await res.body?.cancel();
    }
  });

  it('says how each /v1 operation is authenticated: a bearer token or a webhook signature', async () => {
    const v1 = operationsOf(await fetchDocument()).filter((op) => op.path.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(10);
    for (const op of v1) {
      const where = `${op.method} ${op.path}`;
      const bearer = op.operation.security?.some((requirement) => 'bearerAuth' in requirement) ?? false;
      const headers = (op.operation.parameters ?? []).filter((p) => p.in === 'header' && p.required);
      const signed = WEBHOOK_HEADERS.every((name) => headers.some((p) => p.name.toLowerCase() === name));
      // Webhook routes carry Standard Webhooks headers instead of a session token, never both.
      expect({ where, bearer, signed }).toEqual({
        where,
        bearer: !op.path.startsWith('/v1/hooks/'),
        signed: !bearer,
      });
    }
  });

  it('refuses a caller without credentials on each /v1 operation', async () => {
    const v1 = operationsOf(await fetchDocument()).filter((op) => op.path.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(10);
    for (const op of v1) {
      const where = `${op.method} ${op.path}`;
      const body = op.operation.requestBody ? '{}' : undefined;
      const res = await callWorker(samplePath(op), {
        method: op.method,
        ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
      });
      expect({ where, status: res.status }).toEqual({ where, status: 401 });
    }
  });

  it('declares every /admin/v1 operation as needing an operator key, and refuses it without one', async () => {
    const admin = operationsOf(await fetchDocument()).filter((op) => op.path.startsWith('/admin/v1/'));
    expect(admin.length).toBeGreaterThan(8);
    for (const op of admin) {
      const where = `${op.method} ${op.path}`;
      const res = await callWorker(samplePath(op), { method: op.method });
      expect({ where, security: op.operation.security, status: res.status }).toEqual({
        where,
        security: [{ adminKey: [] }],
        status: 401,
      });
    }
  });

  it('lists 415 for the admin tenant writes, and exactly the two media types a PATCH takes', async () => {
    const admin = operationsOf(await fetchDocument()).filter(
      (op) => op.path === '/admin/v1/tenants/{tenant}',
    );
    const Operation = z.looseObject({
      responses: JsonObject,
      requestBody: z.looseObject({ content: JsonObject }).optional(),
    });
    for (const method of ['PUT', 'PATCH']) {
      const op = Operation.parse(admin.find((o) => o.method === method)?.operation);
      expect({ method, statuses: Object.keys(op.responses) }).toEqual({
        method,
        statuses: expect.arrayContaining(['400', '413', '415']),
      });
    }
    const patch = Operation.parse(admin.find((o) => o.method === 'PATCH')?.operation);
    expect(Object.keys(patch.requestBody?.content ?? {}).sort()).toEqual([
      'application/json',
      'application/merge-patch+json',
    ]);
  });

  it('lists 408 for every operation with a body, admin tenant writes included (the body deadline)', async () => {
    const Operation = z.looseObject({ responses: JsonObject, requestBody: z.unknown().optional() });
    const withBody = operationsOf(await fetchDocument())
      .map((op) => ({ key: `${op.method} ${op.path}`, operation: Operation.parse(op.operation) }))
      .filter(({ operation }) => operation.requestBody !== undefined);
    expect(withBody.map((op) => op.key)).toEqual(
      expect.arrayContaining(['PUT /admin/v1/tenants/{tenant}', 'PATCH /admin/v1/tenants/{tenant}']),
    );
    const missing = withBody.filter(({ operation }) => !('408' in operation.responses)).map((op) => op.key);
    expect(missing).toEqual([]);
  });

  it('declares the service operations outside /v1 and /admin/v1 public (`security: []`)', async () => {
    const service = operationsOf(await fetchDocument()).filter(
      (op) =>
        !op.path.startsWith('/v1/') &&
        !op.path.startsWith('/admin/v1/') &&
        !op.operation[STATIC_ASSET_EXTENSION],
    );
    expect(service.map((op) => op.path).sort()).toEqual(['/healthz', '/openapi.json']);
    for (const op of service) {
      // Public on purpose, and said so (an absent `security` would mean "not stated").
      expect(op.operation.security).toEqual([]);
      expect((await callWorker(op.path)).status).toBe(200);
    }
  });

  it('names every operation, states every operation’s security and describes every tag', async () => {
    const doc = await fetchDocument();
    const { tags } = z
      .object({
        tags: z.array(z.object({ name: z.string(), description: z.string().optional() })).optional(),
      })
      .parse(doc);
    const operations = operationsOf(doc);
    const ids = operations.map((op) => op.operation.operationId);
    // SDK generators name methods after these: present, unique and camelCase.
    for (const [i, id] of ids.entries()) {
      expect({ op: `${operations[i]?.method} ${operations[i]?.path}`, id }).toMatchObject({
        id: expect.stringMatching(/^[a-z][A-Za-z]+$/),
      });
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of operations) {
      expect({ op: `${op.method} ${op.path}`, stated: Array.isArray(op.operation.security) }).toMatchObject({
        stated: true,
      });
    }
    // The webhook routes are signed per request (headers), which no security scheme expresses.
    const hooks = operations.filter((op) => op.path.startsWith('/v1/hooks/'));
    expect(hooks.map((op) => op.operation.security)).toEqual([[], []]);
    const used = new Set(operations.flatMap((op) => op.operation.tags ?? []));
    expect((tags ?? []).map((t) => t.name).sort()).toEqual([...used].sort());
    for (const tag of tags ?? [])
      expect({ tag: tag.name, description: tag.description }).toMatchObject({
        description: expect.stringMatching(/\S{3,}/),
      });
  });

  it("documents the upload's multipart body and the lists' limit and cursor", async () => {
    const operations = operationsOf(await fetchDocument());
    const find = (method: string, path: string) =>
      operations.find((op) => op.method === method && op.path === path);
    const upload = z
      .object({
        required: z.literal(true),
        content: z.object({
          'multipart/form-data': z.object({
            schema: z.object({
              required: z.array(z.string()),
              properties: z.record(z.string(), z.unknown()),
            }),
          }),
        }),
      })
      .parse(find('POST', '/v1/files')?.operation.requestBody);
    expect(upload.content['multipart/form-data'].schema.required).toEqual(['file']);
    expect(Object.keys(upload.content['multipart/form-data'].schema.properties)).toEqual(['file']);
    for (const path of ['/v1/threads', '/v1/files']) {
      const query = (find('GET', path)?.operation.parameters ?? []).filter((p) => p.in === 'query');
      expect(query.map((p) => p.name).sort()).toEqual(['cursor', 'limit']);
      expect(query.every((p) => p.required !== true)).toBe(true);
    }
  });
});
