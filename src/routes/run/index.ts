import { createRouter } from '../router';
import * as handlers from './run.handlers';
import * as routes from './run.routes';

/** Runs on the caller's threads. */
export const runRoutes = createRouter().openapi(routes.run.route, handlers.run);
