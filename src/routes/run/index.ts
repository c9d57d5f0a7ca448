import { createRouter } from '../router';
import * as handlers from './run.handlers';
import * as routes from './run.routes';

/** Runs on the caller's threads: start, list, status, events (resume), cancel. */
export const runRoutes = createRouter()
  .openapi(routes.run.route, handlers.run)
  .openapi(routes.listRuns.route, handlers.listRuns)
  .openapi(routes.getRun.route, handlers.getRun)
  .openapi(routes.runEvents.route, handlers.runEvents)
  .openapi(routes.cancelRun.route, handlers.cancelRun);
