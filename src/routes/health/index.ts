import { createRouter } from '../router';
import * as handlers from './health.handlers';
import * as routes from './health.routes';

/** `GET /healthz`. */
export const healthRoutes = createRouter().openapi(routes.health, handlers.health);
