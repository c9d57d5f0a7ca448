import { createRoute, type RouteConfig, type RouteHandler } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono/types';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { sessionAuth } from '../middleware/auth';
import { bodyDeadline } from '../middleware/body-deadline';
import { jsonDepthLimit } from '../middleware/json-depth';
import { protoKeyRefusal } from '../middleware/proto-keys';
import {
  type AdmissionSpec,
  type AdmitAsks,
  admit,
  type Grant,
  Refusal,
  settle,
} from '../services/admission';
import { requestContext } from './context';

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
const depth = jsonDepthLimit();
const protoKeys = protoKeyRefusal();

/**
 * The OpenAPI security requirement of each kind of route, named where the route is
 * declared. Webhook routes state none: their per-request signature headers (documented
 * as parameters) are not something an OpenAPI security scheme can express.
 */
export const SECURITY = {
  session: [{ bearerAuth: [] }],
  webhook: [],
  admin: [{ adminKey: [] }],
  public: [],
} as const satisfies Record<string, Record<string, never[]>[]>;

/**
 * Declares a route an end user calls with a session token: the session auth and, but for
 * a `get`, the body deadline, the body cap (`body`, default {@link MAX_JSON_BODY}), the
 * JSON depth limit and the `__proto__` key refusal (unless `keepsBody` is false: a body
 * the gateway neither stores nor forwards, where a dropped key changes nothing) run as its
 * middleware, its OpenAPI operation requires `bearerAuth`, and `admission` is what
 * {@link admitted} takes for it.
 */
export function sessionRoute<const S extends AdmissionSpec, const R extends RouteConfig>(
  admission: S,
  config: R,
  body: MiddlewareHandler<AppEnv> = jsonBodyLimit,
  keepsBody = true,
) {
  // A read has no body to wait for, cap or measure (one it carries is never read).
  const checks = keepsBody ? [deadline, body, depth, protoKeys] : [deadline, body, depth];
  const middleware = config.method === 'get' ? [authenticate] : [authenticate, ...checks];
  const route = createRoute({ ...config, security: SECURITY.session, middleware });
  return { route, admission };
}

/**
 * What a route reads of its request before admission runs: what admission is asked (a
 * list's page, a run's `Idempotency-Key`), its handler's input.
 */
export interface Prepared<B> extends AdmitAsks {
  input: B;
}

/**
 * The handler of a session route, run after its validators: admission (one round trip
 * to the tenant's state) hands `handle` its typed grant, the `RateLimit` pair goes on
 * whatever response follows, and whatever ends the request, {@link settle} gives back
 * what no service claimed. Bad input is refused by the validators before this runs,
 * so it never costs a permit, a reservation or a slot. The admission's target (the
 * thread or file it gates on) is the path's `<kind>_id`, or what `target` reads from the
 * validated request (a chat id in a body).
 */
export function admitted<R extends RouteConfig, S extends AdmissionSpec, T>(
  definition: AdmittedRoute<R, S>,
  handle: (c: Parameters<AppRouteHandler<R>>[0], grant: Grant<S>) => Promise<T>,
  target?: (c: Parameters<AppRouteHandler<R>>[0]) => string,
): (c: Parameters<AppRouteHandler<R>>[0]) => Promise<T> {
  return admittedWith(
    definition,
    () => ({ input: undefined }),
    (c, grant) => handle(c, grant),
    target,
  );
}

/**
 * {@link admitted} with a step before admission: `prepare` reads what admission needs of
 * the validated request (a list's page) and what the handler will need (an upload's
 * head, read from the body there, so that a malformed one costs no permit and no hold).
 * What it refuses took nothing but the caller's rate.
 */
export function admittedWith<R extends RouteConfig, S extends AdmissionSpec, T, B>(
  definition: AdmittedRoute<R, S>,
  prepare: (c: Parameters<AppRouteHandler<R>>[0]) => Prepared<B> | Promise<Prepared<B>>,
  handle: (c: Parameters<AppRouteHandler<R>>[0], grant: Grant<S>, input: B) => Promise<T>,
  /** The id admission gates on, when it is not the path's `<kind>_id` (a chat id in the body). */
  target?: (c: Parameters<AppRouteHandler<R>>[0]) => string,
): (c: Parameters<AppRouteHandler<R>>[0]) => Promise<T> {
  const { admission } = definition;
  const param = admission.limiter !== 'open' && admission.owns ? `${admission.owns}_id` : undefined;
  return async (c) => {
    const ctx = requestContext(c);
    const { input, ...asks } = await prepare(c);
    let grant: Grant<S>;
    try {
      const id = target ? target(c) : param === undefined ? undefined : c.req.param(param);
      grant = await admit(ctx, admission, id, asks);
    } catch (error) {
      c.set('limiter', error instanceof Refusal ? error.reason : 'error');
      throw error;
    }
    c.set('limiter', grant.outcome);
    // Prepared headers go on every response this context builds, error responses included.
    for (const [name, value] of Object.entries(grant.headers)) c.header(name, value);
    try {
      return await handle(c, grant, input);
    } finally {
      const settling = settle(ctx, grant);
      if (settling) ctx.defer(settling);
    }
  };
}
