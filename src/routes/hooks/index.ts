import { createRouter } from '../router';
import { deliveryStatus, runHook } from './hooks.handlers';
import { deliveryStatusRoute, runHookRoute } from './hooks.routes';

const router = createRouter();
router.openAPIRegistry.registerPath(runHookRoute);
router.openAPIRegistry.registerPath(deliveryStatusRoute);

/**
 * Webhook routes (`/v1/hooks/*`): authenticated by Standard Webhooks signatures only,
 * never by a session token (the app's session auth skips this prefix).
 */
export const hookRoutes = router
  .post('/hooks/:tenant/run', runHook)
  .get('/hooks/:tenant/deliveries/:delivery_id', deliveryStatus);
