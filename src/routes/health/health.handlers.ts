import type { AppRouteHandler } from '../define';
import type * as routes from './health.routes';

/** Liveness only; answers even when the configuration is invalid. */
export const health: AppRouteHandler<typeof routes.health> = (c) =>
  c.json({ status: 'ok' as const }, 200, { 'Cache-Control': 'no-store' });
