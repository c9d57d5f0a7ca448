import { createRouter } from '../router';
import * as handlers from './files.handlers';
import * as routes from './files.routes';

/** Files the caller uploaded. */
export const fileRoutes = createRouter()
  // The upload's input is typed for the client here: its body is not a zod schema (files.routes.ts).
  .openapi<typeof routes.upload.route, routes.UploadInput>(routes.upload.route, handlers.upload)
  .openapi(routes.list.route, handlers.list)
  .openapi(routes.remove.route, handlers.remove);
