import { createRouter } from '../router';
import * as handlers from './threads.handlers';
import * as routes from './threads.routes';

/** Threads and their messages. */
export const threadRoutes = createRouter()
  .openapi(routes.createThread.route, handlers.createThread)
  .openapi(routes.listThreads.route, handlers.listThreads)
  .openapi(routes.getThread.route, handlers.getThread)
  .openapi(routes.deleteThread.route, handlers.deleteThread)
  .openapi(routes.listMessages.route, handlers.listMessages)
  .openapi(routes.postMessage.route, handlers.postMessage);
