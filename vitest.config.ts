import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { buildEmulator } from './scripts/build-emulator.mjs';
import { TENANTS, UPSTREAM_EMAIL, UPSTREAM_PASSWORD, UPSTREAM_URL } from './test/fixtures/tenants.ts';

// The emulator runs as an auxiliary worker; every outbound fetch of the Worker under
// test (and of the tests themselves) is routed to it, so nothing can reach a real host.
const emulatorScript = buildEmulator('worker');

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          EPSIMO_BASE_URL: UPSTREAM_URL,
          EPSIMO_EMAIL: UPSTREAM_EMAIL,
          EPSIMO_PASSWORD: UPSTREAM_PASSWORD,
          TENANTS: JSON.stringify(TENANTS),
          // Webhook run/callback retries without waiting (the backoff itself: test/unit/webhook-*).
          WEBHOOK_RETRY_BASE_SECONDS: '0',
        },
        outboundService: 'emulator',
        workers: [
          { name: 'emulator', modules: true, scriptPath: emulatorScript, compatibilityDate: '2026-11-01' },
        ],
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
