import { applyD1Migrations, type D1Migration } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { z } from 'zod';

// The tenant registry's tables (migrations/, read by vitest.config.ts), in the test D1
// database before each test file; applying them twice does nothing.
const MigrationsSchema = z.array(z.object({ name: z.string(), queries: z.array(z.string()) }));
const migrations: D1Migration[] = MigrationsSchema.parse(Reflect.get(env, 'TEST_MIGRATIONS'));
await applyD1Migrations(env.REGISTRY, migrations);
