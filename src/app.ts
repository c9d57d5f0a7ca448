import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from './env';
import { ApiError, errorResponse } from './errors';
import { errorName, log } from './log';
import { accessLog } from './middleware/access-log';
import { sessionAuth } from './middleware/auth';
import { requireConfig } from './middleware/config';
import { tenantCors } from './middleware/cors';
import { jsonDepthLimit } from './middleware/json-depth';
import { assistantRoutes } from './routes/assistants';
import { dbRoutes } from './routes/db';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { hookRoutes } from './routes/hooks';
import { documentApp } from './routes/openapi';
import { runRoutes } from './routes/run';
import { threadRoutes } from './routes/threads';
import { usageRoutes } from './routes/usage';

/** JSON bodies on every route but file uploads (which have the tenant's own cap). */
const MAX_JSON_BODY = 256 * 1024;

const jsonBodyLimit = bodyLimit({
  maxSize: MAX_JSON_BODY,
  onError: () => {
    throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `Request bodies are limited to ${MAX_JSON_BODY} bytes.`);
  },
});

/**
 * Builds the Worker's Hono app. Order matters: request id first (every response,
 * errors included, carries `X-Request-Id`), secure headers, `/healthz` (answers even
 * when the configuration is invalid), the config gate, CORS, then per-route auth.
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
  const auth = sessionAuth();
  app.use('/v1/*', (c, next) => (c.req.path.startsWith('/v1/hooks/') ? next() : auth(c, next)));
  // Webhooks read their raw body themselves, under their own cap (src/webhooks/body.ts);
  // uploads have the tenant's own cap (routes/files).
  app.use('/v1/*', (c, next) =>
    c.req.path === '/v1/files' || c.req.path.startsWith('/v1/hooks/') ? next() : jsonBodyLimit(c, next),
  );
  // After the size limit; webhooks check depth after their signature (routes/hooks).
  const jsonDepth = jsonDepthLimit();
  app.use('/v1/*', (c, next) => (c.req.path.startsWith('/v1/hooks/') ? next() : jsonDepth(c, next)));
  app.use('/v1/*', async function noStore(c, next) {
    await next();
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });

  const routes = app
    .route('/v1', assistantRoutes)
    .route('/v1', threadRoutes)
    .route('/v1', runRoutes)
    .route('/v1', dbRoutes)
    .route('/v1', fileRoutes)
    .route('/v1', usageRoutes)
    .route('/v1', hookRoutes);
  // After every route: the document is generated from the routes mounted above.
  documentApp(app);

  app.notFound((c) => {
    const isPage = (c.req.method === 'GET' || c.req.method === 'HEAD') && !c.req.path.startsWith('/v1/');
    if (isPage && c.env.ASSETS) return servePage(c.env.ASSETS, c.req.raw, c.var.requestId);
    return errorResponse(c, new ApiError(404, 'NOT_FOUND', 'No such route.'));
  });
  app.onError((err, c) => errorResponse(c, toApiError(err, c.var.requestId)));
  return routes;
}

/** Everything a static page loads comes from this origin; any third-party load fails. */
const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The static pages (`/docs/`, `/demo/`) go through the Worker too, so they carry the
 * request id and the security headers like every other response.
 */
async function servePage(assets: Fetcher, request: Request, requestId: string): Promise<Response> {
  const asset = await assets.fetch(request);
  const res = new Response(asset.body, asset);
  res.headers.set('X-Request-Id', requestId);
  res.headers.set('Content-Security-Policy', PAGE_POLICY);
  res.headers.set('Referrer-Policy', 'no-referrer');
  return res;
}

/** Known errors keep their status; anything else is logged and becomes a generic 500. */
function toApiError(err: unknown, requestId: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 400) return new ApiError(400, 'BAD_REQUEST', 'Malformed request body.');
    if (err.status === 413) return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'Request body too large.');
    if (err.status === 415) {
      return new ApiError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'The body has the wrong Content-Type for this route.',
      );
    }
  }
  const name = errorName(err);
  // A RangeError is what deep recursion on input (a validator, JSON.stringify) throws:
  // the input was unusable, so it is the caller's 400, never a 500.
  if (err instanceof RangeError) {
    log('warn', 'request refused: range error', { request_id: requestId, error: name });
    return new ApiError(
      400,
      'BAD_REQUEST',
      'The request could not be processed (nested too deep or out of range).',
    );
  }
  log('error', 'unhandled error', { request_id: requestId, error: name });
  return new ApiError(500, 'INTERNAL', 'Internal error.');
}

/** The app's type, for `hc<AppType>` clients. */
export type AppType = ReturnType<typeof createApp>;
