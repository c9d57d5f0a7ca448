import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { adminAuth } from './admin/auth';
import type { AppEnv } from './env';
import { ApiError, errorResponse } from './errors';
import { errorName, log } from './log';
import { wrongMediaType } from './media-type';
import { accessLog } from './middleware/access-log';
import { bodyDeadline } from './middleware/body-deadline';
import { requireConfig } from './middleware/config';
import { tenantCors } from './middleware/cors';
import { adminRoutes } from './routes/admin';
import { assistantRoutes } from './routes/assistants';
import { chatRoutes } from './routes/chat';
import { requestContext } from './routes/context';
import { dbRoutes } from './routes/db';
import { limitBody } from './routes/define';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { hookRoutes } from './routes/hooks';
import { allowedMethods } from './routes/methods';
import { documentApp } from './routes/openapi';
import { runRoutes } from './routes/run';
import { threadRoutes } from './routes/threads';
import { usageRoutes } from './routes/usage';
import { rateOnly } from './services/admission';

/**
 * Builds the Worker's Hono app. Order matters: request id first (every response,
 * errors included, carries `X-Request-Id`), secure headers, `/healthz` (answers even
 * when the configuration is invalid), the config gate, CORS. Authentication and body
 * caps are not decided here: each route declares them where it is defined
 * (routes/define.ts for session routes, routes/hooks for signed webhooks). The operator's
 * admin API (`/admin/v1`) has its own gate (admin/auth.ts), the same body deadline and a
 * cap of its own, no CORS, and stays out of the typed client's `AppType`.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>();

  // A caller's X-Request-Id is kept when it is 1-128 of [A-Za-z0-9_=-]; otherwise a UUID.
  app.use(requestId({ limitLength: 128 }));
  app.use(accessLog());
  // secureHeaders writes its headers after the handler, over anything a handler set:
  // X-Frame-Options is chosen here (DENY: no page, not even /docs/ or /demo/, may be framed).
  app.use(
    secureHeaders({
      crossOriginResourcePolicy: 'cross-origin',
      crossOriginOpenerPolicy: false,
      xFrameOptions: 'DENY',
    }),
  );
  app.route('/', healthRoutes);
  app.use(requireConfig());
  app.use('/v1/*', tenantCors());
  app.use('/v1/*', noStore);
  app.use(
    '/admin/v1/*',
    adminAuth(),
    bodyDeadline(),
    limitBody(ADMIN_BODY_LIMIT, 'Admin bodies are limited to 64 KiB.'),
    noStore,
  );
  app.route('/admin/v1', adminRoutes);

  const routes = app
    .route('/v1', assistantRoutes)
    .route('/v1', threadRoutes)
    .route('/v1', runRoutes)
    .route('/v1', chatRoutes)
    .route('/v1', dbRoutes)
    .route('/v1', fileRoutes)
    .route('/v1', usageRoutes)
    .route('/v1', hookRoutes);
  // After every route: the document is generated from the routes mounted above.
  documentApp(app);

  // A GET no route answers may be a page (static assets); a known path with another method
  // is 405; whatever else is the API's 404.
  const allowed = allowedMethods(app.routes);
  app.notFound(async (c) => {
    const page = c.req.method === 'GET' || c.req.method === 'HEAD' ? await servePage(c) : undefined;
    if (page) return page;
    const methods = allowed(c.req.path);
    if (methods === undefined) return errorResponse(c, new ApiError('NOT_FOUND', 'No such route.'));
    const error = new ApiError('METHOD_NOT_ALLOWED', `This route takes ${methods}.`, {
      headers: { Allow: methods },
    });
    return errorResponse(c, error);
  });
  app.onError(async (err, c) =>
    errorResponse(c, await withRateHeaders(c, toApiError(err, c.get('requestId')))),
  );
  return routes;
}

const ADMIN_BODY_LIMIT = 64 * 1024;

/** API answers are never cached by anything between the gateway and its caller. */
const noStore = createMiddleware<AppEnv>(async function noStore(c, next) {
  await next();
  if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
});

/**
 * A session request refused for its input (400, 408, 413, 415) never reached admission,
 * so it took nothing; it still counts against the caller's rate like every
 * authenticated request, and carries the `RateLimit` pair like every response of a
 * rate-limited route.
 */
async function withRateHeaders(c: Context<AppEnv>, err: ApiError): Promise<ApiError> {
  const inputRefusal = [400, 408, 413, 415].includes(err.status);
  if (!inputRefusal || c.get('limiter') !== undefined || c.get('user') === undefined) return err;
  c.set('limiter', 'input_refused');
  const headers = await rateOnly(requestContext(c));
  return headers ? err.withHeaders(headers) : err;
}

/** Everything a static page loads comes from this origin; any third-party load fails. */
const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The static pages (`/docs/`, `/demo/`) go through the Worker too, so they carry the
 * request id and the security headers like every other response. `undefined` when no
 * asset has this path.
 */
async function servePage(c: Context<AppEnv>): Promise<Response | undefined> {
  if (!c.env.ASSETS) return undefined;
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  if (asset.status === 404) {
    await asset.body?.cancel();
    return undefined;
  }
  const res = new Response(asset.body, asset);
  res.headers.set('X-Request-Id', c.get('requestId'));
  res.headers.set('Content-Security-Policy', PAGE_POLICY);
  res.headers.set('Referrer-Policy', 'no-referrer');
  return res;
}

/** Known errors keep their status; anything else is logged and becomes a generic 500. */
function toApiError(err: unknown, requestId: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 400) return new ApiError('BAD_REQUEST', 'Malformed request body.');
    if (err.status === 413) return new ApiError('PAYLOAD_TOO_LARGE', 'Request body too large.');
    if (err.status === 415) return wrongMediaType();
  }
  const name = errorName(err);
  // A RangeError is what deep recursion on input (a validator, JSON.stringify) throws:
  // the input was unusable, so it is the caller's 400, never a 500.
  if (err instanceof RangeError) {
    log('warn', 'request refused: range error', { request_id: requestId, error: name });
    return new ApiError(
      'BAD_REQUEST',
      'The request could not be processed (nested too deep or out of range).',
    );
  }
  log('error', 'unhandled error', { request_id: requestId, error: name });
  return new ApiError('INTERNAL', 'Internal error.');
}

/** The app's type, for `hc<AppType>` clients. */
export type AppType = ReturnType<typeof createApp>;
