import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { authenticateAccount, authenticateProject } from './jwt';
import type { Account, Project, Universe } from './types';

export type EmuEnv = {
  Variables: {
    u: Universe;
    account: Account;
    project: Project;
  };
};

export type Ctx = Context<EmuEnv>;

export function errorJson(
  c: Ctx,
  status: ContentfulStatusCode,
  error: string,
  detail: string,
  extra: { field?: string; code?: string } = {},
): Response {
  return c.json({ error, detail, ...extra }, status);
}

export function unauthorized(c: Ctx): Response {
  return errorJson(c, 401, 'Unauthorized', 'Token has expired or is invalid', { code: 'TOKEN_EXPIRED' });
}

export function notFound(c: Ctx, detail: string): Response {
  return errorJson(c, 404, 'Not Found', detail);
}

export function validationError(c: Ctx, field: string, detail: string): Response {
  return errorJson(c, 422, 'Validation Error', detail, { field });
}

/** Requires an account-scoped token; sets `account`. */
export const requireAccount: MiddlewareHandler<EmuEnv> = async (c, next) => {
  const account = await authenticateAccount(c.var.u, c.req.header('authorization'));
  if (!account) return unauthorized(c);
  c.set('account', account);
  await next();
};

/** Requires a project-scoped token; sets `project` (the token's project). */
export const requireProject: MiddlewareHandler<EmuEnv> = async (c, next) => {
  const project = await authenticateProject(c.var.u, c.req.header('authorization'));
  if (!project) return unauthorized(c);
  c.set('project', project);
  await next();
};

type Parsed<T> = { ok: true; data: T } | { ok: false; response: Response };

/** Parses the JSON body with a schema: 400 for non-JSON, 422 (with `field`) for schema failures. */
export async function parseJson<S extends z.ZodType>(c: Ctx, schema: S): Promise<Parsed<z.output<S>>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return { ok: false, response: errorJson(c, 400, 'Bad Request', 'Request body must be valid JSON') };
  }
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  const missing = issue?.code === 'invalid_type' && issue.input === undefined;
  const detail = missing
    ? `Field '${field}' is required`
    : `Field '${field}': ${issue?.message ?? 'invalid'}`;
  return { ok: false, response: validationError(c, field, detail) };
}

/** A list in the shape the `list_shape` knob asks for. */
export function listJson(c: Ctx, plural: string, items: unknown[]): Response {
  if (c.var.u.knobs.list_shape === 'object') return c.json({ [plural]: items, total: items.length });
  return c.json(items);
}

/** A JSON response for an arbitrary (already JSON-safe) value. */
export function rawJson(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
