import { createApp } from './app';

export { TenantState } from './objects/tenant-state';
export { TokenBroker } from './objects/token-broker';

const app = createApp();

/** The Worker entry point. Durable Objects and the Queue consumer are exported here too. */
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
