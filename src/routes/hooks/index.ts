import { bodyDeadline } from '../../middleware/body-deadline';
import { createRouter } from '../router';
import { deliveryStatus, runHook } from './hooks.handlers';
import { deliveryStatusRoute, runHookRoute } from './hooks.routes';

const router = createRouter();
router.openAPIRegistry.registerPath(runHookRoute);
router.openAPIRegistry.registerPath(deliveryStatusRoute);

/**
 * Webhook routes (`/v1/hooks/*`): authenticated by Standard Webhooks signatures only,
 * never by a session token: they are not session routes, so no session auth runs on them.
 * A webhook's body is read under the session routes' deadline (408), before anyone is
 * known to have signed it: a stranger cannot hold a connection open with a stalled body.
 */
export const hookRoutes = router
  .post('/hooks/:tenant/run', bodyDeadline(), runHook)
  .get('/hooks/:tenant/deliveries/:delivery_id', deliveryStatus);
