import { createRoute, type RouteConfig, type RouteHandler } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono/types';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { sessionAuth } from '../middleware/auth';
import { bodyDeadline } from '../middleware/body-deadline';
import { type AdmissionSpec, admit, type Grant, Refusal, settle } from '../services/admission';
import { requestContext } from '../services/context';

/** The handler type of a route of this app. */
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

/** A session route: its OpenAPI definition and what it needs admitted. */
export interface AdmittedRoute<R extends RouteConfig, S extends AdmissionSpec> {
  route: R;
  admission: S;
}

/** JSON bodies on every session route that sets no cap of its own (bytes). */
export const MAX_JSON_BODY = 256 * 1024;

/** A body cap refused with the contract's 413 the moment the body passes `maxBytes`. */
export function limitBody(maxBytes: number, detail: string, field?: string): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', detail, field === undefined ? {} : { field });
    },
  });
}

const jsonBodyLimit = limitBody(MAX_JSON_BODY, `Request bodies are limited to ${MAX_JSON_BODY} bytes.`);
const authenticate = sessionAuth();
const deadline = bodyDeadline();

/** The OpenAPI security requirement of each kind of route, named where the route is declared. */
export const SECURITY = {
  session: [{ bearerAuth: [] }],
  webhook: [{ webhookSignature: [] }],
  admin: [{ adminKey: [] }],
  public: [],
} as const satisfies Record<string, Record<string, never[]>[]>;

/**
 * Declares a route an end user calls with a session token: the session auth, the body
 * deadline and the body cap (`body`, default {@link MAX_JSON_BODY}) run as its middleware, its OpenAPI
 * operation requires `bearerAuth`, and `admission` is what {@link admitted} takes for it.
 */
export function sessionRoute<const S extends AdmissionSpec, const R extends RouteConfig>(
  admission: S,
  config: R,
  body: MiddlewareHandler<AppEnv> = jsonBodyLimit,
) {
  const route = createRoute({
    ...config,
    security: SECURITY.session,
    middleware: [authenticate, deadline, body] as const,
  });
  return { route, admission };
}

/**
 * The handler of a session route, run after its validators: admission (one round trip
 * to the tenant's state) hands `handle` its typed grant, the `RateLimit` pair goes on
 * whatever response follows, and whatever ends the request, {@link settle} gives back
 * what no service claimed. Bad input is refused by the validators before this runs,
 * so it never costs a permit, a reservation or a slot.
 */
export function admitted<R extends RouteConfig, S extends AdmissionSpec, T>(
  definition: AdmittedRoute<R, S>,
  handle: (c: Parameters<AppRouteHandler<R>>[0], grant: Grant<S>) => Promise<T>,
): (c: Parameters<AppRouteHandler<R>>[0]) => Promise<T> {
  const { admission } = definition;
  const param = admission.limiter === 'closed' && admission.owns ? `${admission.owns}_id` : undefined;
  return async (c) => {
    const ctx = requestContext(c);
    let grant: Grant<S>;
    try {
      grant = await admit(ctx, admission, param === undefined ? undefined : c.req.param(param));
    } catch (error) {
      c.set('limiter', error instanceof Refusal ? error.reason : 'error');
      throw error;
    }
    c.set('limiter', grant.outcome);
    // Prepared headers go on every response this context builds, error responses included.
    for (const [name, value] of Object.entries(grant.headers)) c.header(name, value);
    try {
      return await handle(c, grant);
    } finally {
      ctx.defer(settle(ctx, grant));
    }
  };
}
