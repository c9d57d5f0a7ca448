import { createRouter } from '../router';
import * as handlers from './files.handlers';
import * as routes from './files.routes';

/** Files the caller uploaded. */
export const fileRoutes = createRouter()
  .openapi(routes.upload.route, handlers.upload)
  .openapi(routes.list.route, handlers.list)
  .openapi(routes.remove.route, handlers.remove);
