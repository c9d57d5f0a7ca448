import { createRouter } from '../router';
import * as handlers from './threads.handlers';
import * as routes from './threads.routes';

/** Threads and their messages. */
export const threadRoutes = createRouter()
  .openapi(routes.createThread, handlers.createThread)
  .openapi(routes.listThreads, handlers.listThreads)
  .openapi(routes.getThread, handlers.getThread)
  .openapi(routes.deleteThread, handlers.deleteThread)
  .openapi(routes.listMessages, handlers.listMessages)
  .openapi(routes.postMessage, handlers.postMessage);
