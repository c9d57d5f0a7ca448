import { createRouter } from '../router';
import * as handlers from './db.handlers';
import * as routes from './db.routes';

/** The virtual database of the caller's threads. */
export const dbRoutes = createRouter()
  .openapi(routes.getAll.route, handlers.getAll)
  .openapi(routes.getKey.route, handlers.getKey)
  .openapi(routes.putKey.route, handlers.putKey);
