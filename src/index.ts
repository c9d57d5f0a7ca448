import { createApp } from './app';
import { handleQueue } from './queue/consumer';

export { Deliveries } from './objects/deliveries';
export { UpstreamGovernor } from './objects/governor';
export { TenantState } from './objects/tenant-state';
export { ThreadRuns } from './objects/thread-runs';
export { TokenBroker } from './objects/token-broker';

const app = createApp();

/** The Worker entry point. Durable Objects and the Queue consumer are exported here too. */
export default {
  fetch: app.fetch,
  queue: (batch, env) => handleQueue(batch, env),
} satisfies ExportedHandler<Env>;
