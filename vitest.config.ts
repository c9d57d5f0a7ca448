import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { buildEmulator } from './scripts/build-emulator.mjs';
import {
  ADMIN_KEY_HASH,
  TENANTS,
  UPSTREAM_EMAIL,
  UPSTREAM_PASSWORD,
  UPSTREAM_URL,
} from './test/fixtures/tenants.ts';

// The emulator runs as an auxiliary worker; every outbound fetch of the Worker under
// test (and of the tests themselves) is routed to it, so nothing can reach a real host.
const emulatorScript = buildEmulator('worker');
// The registry's migrations, applied to the test D1 database by test/setup/migrations.ts.
const migrations = await readD1Migrations('./migrations');

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
          // Every request waits for its waitUntil work here: metered counts written at once.
          METER_FLUSH_MS: '0',
          // The operator key of the admin tests (test/fixtures/tenants.ts ADMIN_KEY).
          ADMIN_KEY_HASHES: ADMIN_KEY_HASH,
          TEST_MIGRATIONS: migrations,
        },
        outboundService: 'emulator',
        workers: [
          {
            name: 'emulator',
            modules: true,
            scriptPath: emulatorScript,
            compatibilityDate: '2026-11-01',
            // A caller's abort reaches the emulator's handler (a run whose headers are held back).
            compatibilityFlags: ['enable_request_signal'],
          },
        ],
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup/migrations.ts'],
    testTimeout: 20_000,
  },
});
