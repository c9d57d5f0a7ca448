import { Hono } from 'hono';
import type { EmuEnv } from './http';
import { registerIdpRoutes } from './idp';
import { gate } from './middleware';
import { registerAuthRoutes } from './routes-auth';
import { registerCallbackRoutes } from './routes-callbacks';
import { registerControlRoutes } from './routes-control';
import { registerFileAndDbRoutes } from './routes-files-db';
import { registerProjectRoutes } from './routes-projects';
import { registerThreadRoutes } from './routes-threads';

/**
 * The upstream emulator: a stand-in for the Epsimo Agent Platform API.
 * State is kept per request URL host ("universe"), so tests using different hosts are isolated.
 * Collection routes answer with and without the trailing slash (non-strict routing).
 */
export function createEmulator(): Hono<EmuEnv> {
  const app = new Hono<EmuEnv>({ strict: false });
  app.use('*', gate);
  registerCallbackRoutes(app);
  registerIdpRoutes(app);
  registerControlRoutes(app);
  registerAuthRoutes(app);
  registerProjectRoutes(app);
  registerThreadRoutes(app);
  registerFileAndDbRoutes(app);
  app.notFound((c) =>
    c.json(
      { error: 'Not Found', detail: `No route for ${c.req.method} ${new URL(c.req.url).pathname}` },
      404,
    ),
  );
  app.onError((err, c) =>
    c.json({ error: 'Internal Server Error', detail: err instanceof Error ? err.message : String(err) }, 500),
  );
  return app;
}

export type {
  Account,
  Knobs,
  KnobsPatch,
  RequestLogEntry,
  Stats,
  StatusOverride,
  StreamKnobs,
} from './types';
