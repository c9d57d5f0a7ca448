import { Hono } from 'hono';
import type { AppEnv } from '../env';

/** `GET /healthz`: liveness only; no auth, no configuration, no upstream call. */
export const healthRoutes = new Hono<AppEnv>().get('/healthz', (c) =>
  c.json({ status: 'ok' as const }, 200, { 'Cache-Control': 'no-store' }),
);
