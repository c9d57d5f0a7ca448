import { createRouter } from '../router';
import * as handlers from './chat.handlers';
import * as routes from './chat.routes';

/** The Vercel AI SDK chat protocol (contract section 4b). */
export const chatRoutes = createRouter()
  .openapi(routes.chat.route, handlers.chat)
  .openapi(routes.resumeChat.route, handlers.resumeChat);
