import { createRouter } from '../router';
import * as handlers from './assistants.handlers';
import * as routes from './assistants.routes';

/** The tenant's assistants. */
export const assistantRoutes = createRouter().openapi(routes.listAssistants.route, handlers.listAssistants);
