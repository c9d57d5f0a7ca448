import { createRouter } from '../router';
import { deliveryStatus, runHook } from './hooks.handlers';
import { deliveryStatusRoute, runHookRoute } from './hooks.routes';

const router = createRouter();
router.openAPIRegistry.registerPath(runHookRoute);
router.openAPIRegistry.registerPath(deliveryStatusRoute);

/**
 * Webhook routes (`/v1/hooks/*`): authenticated by Standard Webhooks signatures only,
 * never by a session token: they are not session routes, so no session auth runs on them.
 */
export const hookRoutes = router
  .post('/hooks/:tenant/run', runHook)
  .get('/hooks/:tenant/deliveries/:delivery_id', deliveryStatus);
