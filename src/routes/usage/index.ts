import { createRouter } from '../router';
import * as handlers from './usage.handlers';
import * as routes from './usage.routes';

/** The caller's usage. */
export const usageRoutes = createRouter().openapi(routes.usage.route, handlers.usage);
