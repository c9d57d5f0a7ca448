import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from './env';
import { ApiError, errorResponse } from './errors';
import { log } from './log';
import { sessionAuth } from './middleware/auth';
import { requireConfig } from './middleware/config';
import { tenantCors } from './middleware/cors';
import { assistantRoutes } from './routes/assistants';
import { dbRoutes } from './routes/db';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { runRoutes } from './routes/run';
import { threadRoutes } from './routes/threads';
import { usageRoutes } from './routes/usage';

/** Caller-supplied request ids are kept only when they are short and plain. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
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

  app.use(
    requestId({
      generator: (c) => {
        const given = c.req.header('X-Request-Id');
        return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
      },
    }),
  );
  app.use(secureHeaders({ crossOriginResourcePolicy: 'cross-origin', crossOriginOpenerPolicy: false }));
  app.route('/', healthRoutes);
  app.use(requireConfig());
  app.use('/v1/*', tenantCors());
  app.use('/v1/*', except('/v1/hooks/*', sessionAuth()));
  app.use('/v1/*', except('/v1/files', jsonBodyLimit));
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
    .route('/v1', usageRoutes);

  app.notFound((c) => errorResponse(c, new ApiError(404, 'NOT_FOUND', 'No such route.')));
  app.onError((err, c) => errorResponse(c, toApiError(err, c.var.requestId)));
  return routes;
}

/** Known errors keep their status; anything else is logged and becomes a generic 500. */
function toApiError(err: unknown, requestId: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 400) return new ApiError(400, 'BAD_REQUEST', 'Malformed request body.');
    if (err.status === 413) return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'Request body too large.');
  }
  const name = err instanceof Error ? err.name : typeof err;
  log('error', 'unhandled error', { request_id: requestId, error: name });
  return new ApiError(500, 'INTERNAL', 'Internal error.');
}

/** The app's type, for `hc<AppType>` clients. */
export type AppType = ReturnType<typeof createApp>;
