import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import { version } from '../../package.json';
import type { AppEnv } from '../env';
import { SECURITY } from './define';

/** Where the document is served. */
export const OPENAPI_PATH = '/openapi.json';

/**
 * Operations served by Workers static assets (`public/`), not by the Worker: they are
 * documented with this extension so tools (and the coverage test) can tell them apart.
 */
export const STATIC_ASSET_EXTENSION = 'x-static-asset';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

type OpenApiDocument = ReturnType<OpenAPIHono<AppEnv>['getOpenAPI31Document']>;

/**
 * Documents the app from its own route definitions and serves the document at
 * `GET /openapi.json`. Call after every route is mounted; the document is built on
 * the first request and kept for the life of the isolate (it cannot change).
 *
 * Every operation's `security` comes from where its route is declared (routes/define.ts
 * `SECURITY`): session routes require `bearerAuth`, webhook routes `webhookSignature`,
 * public ones nothing. This adds the schemes, a tag per top-level resource, and the
 * operations outside the Worker's routes (the document itself and the `/docs` page).
 */
export function documentApp(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A session token signed HS256 by the tenant’s backend with `session_secret` (no `kid`) or an ' +
      '`auth.hs256` secret (its `kid` in the header); claims `tenant`, `sub`, `exp`. Or, for a tenant ' +
      'with `auth.jwks`, its identity provider’s own token (RS/PS/ES/EdDSA with a `kid`; the tenant is ' +
      'picked by `iss`/`aud`). `exp` at most 24 h ahead and after `iat`; optional `iat`/`nbf`.',
  });
  registry.registerComponent('securitySchemes', 'adminKey', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An operator key (the admin API, `/admin/v1`): any secret string whose SHA-256 hex digest is listed ' +
      'in `ADMIN_KEY_HASHES`. Session tokens are not operator keys.',
  });
  registry.registerPath({
    method: 'get',
    path: OPENAPI_PATH,
    security: SECURITY.public,
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI 3.1 document',
    responses: {
      200: {
        description: 'The document',
        content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
      },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/docs',
    security: SECURITY.public,
    operationId: 'getDocsPage',
    summary: 'An interactive page for this document (static assets; `/docs` redirects to `/docs/`)',
    [STATIC_ASSET_EXTENSION]: true,
    responses: { 200: { description: 'The page', content: { 'text/html': { schema: z.string() } } } },
  });

  registry.registerPath({
    method: 'get',
    path: '/admin',
    operationId: 'getAdminDashboard',
    security: SECURITY.public,
    summary: 'The operator dashboard (static assets; it asks for an operator key and calls /admin/v1)',
    [STATIC_ASSET_EXTENSION]: true,
    responses: { 200: { description: 'The page', content: { 'text/html': { schema: z.string() } } } },
  });

  let document: OpenApiDocument | undefined;
  app.get(OPENAPI_PATH, (c) => {
    document ??= finish(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'epsimo-edge',
          version,
          description:
            'A gateway in front of the Epsimo Agent Platform API: per-tenant session tokens, ' +
            'allow-listed assistants, per-user ownership, rate limits and an SSE run relay.',
        },
        servers: [{ url: '/', description: 'This gateway' }],
      }),
    );
    return c.json(document, 200, { 'Cache-Control': 'no-cache' });
  });
}

/** What each tag groups; a tag without a description here has none in the document (lint). */
const TAG_DESCRIPTIONS: Record<string, string> = {
  Admin:
    'The operator plane (an operator key, never a session token): tenants, blocked users, metered ' +
    'usage, the upstream account, the audit trail.',
  Assistants: 'The assistants the tenant allow-lists for its users (id and name only).',
  Chat:
    'The Vercel AI SDK chat protocol (`useChat`, assistant-ui): one chat is one thread of the caller, ' +
    'each turn a run, answered as the UI message stream.',
  Files: 'The caller’s uploads, within the tenant’s size and type limits.',
  Service: 'Liveness, this document and its interactive page: no authentication.',
  Threads:
    'The caller’s conversations: messages, runs (streamed as Server-Sent Events) and each ' +
    'thread’s small key-value database.',
  Usage: 'The caller’s limits, quotas and what is left of them.',
  Webhooks:
    'Runs started by other backends, signed with Standard Webhooks headers and the tenant’s ' +
    '`webhook_secret` instead of a session token.',
};

/** Adds a tag per top-level resource (derived from each operation's path) and its description. */
function finish(document: OpenApiDocument): OpenApiDocument {
  const tags = new Set<string>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      addSessionErrors(operation);
      operation.tags ??= [tagOf(path)];
      for (const tag of operation.tags) tags.add(tag);
    }
  }
  document.tags = [...tags].sort().map((name) => {
    const description = TAG_DESCRIPTIONS[name];
    return description === undefined ? { name } : { name, description };
  });
  return document;
}

type Operation = NonNullable<NonNullable<OpenApiDocument['paths']>[string]['get']>;

/**
 * What every session route may answer besides its own statuses, added where it does not
 * list them: `403 USER_BLOCKED` (admission refuses a blocked user on any route) and, for a
 * route with a body, `415` (the body's `Content-Type` is checked before it is read).
 */
function addSessionErrors(operation: Operation): void {
  const { responses } = operation;
  const error = responses?.['401'];
  if (!responses || !error || !operation.security?.some((requirement) => 'bearerAuth' in requirement)) return;
  responses['403'] ??= { ...error, description: 'The operator blocked this end user (`USER_BLOCKED`)' };
  if (operation.requestBody) {
    responses['415'] ??= { ...error, description: 'The body has the wrong Content-Type for the route' };
  }
}

/** `/v1/threads/{thread_id}/run` → `Threads`; `/admin/...` → `Admin`; anything else → `Service`. */
function tagOf(path: string): string {
  const [, prefix, resource] = path.split('/');
  const name = prefix === 'v1' && resource ? resource : prefix === 'admin' ? 'admin' : 'service';
  return name.charAt(0).toUpperCase() + name.slice(1);
}
