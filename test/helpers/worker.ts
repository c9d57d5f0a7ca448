import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import worker from '../../src/index';

/** The test bindings, with overrides (e.g. another emulator universe or a broken TENANTS). */
export function testEnv(overrides: Partial<Record<keyof Env, string>> = {}): Env {
  // The one cast of the tests: `wrangler types` types each var by its wrangler.toml value, a
  // literal ("10000"), so no other string type-checks; the Worker reads every var for a
  // string and validates it itself (src/config.ts), which is what these overrides exercise.
  return { ...env, ...overrides } as Env;
}

/**
 * Calls the real Worker entry point (`src/index.ts` default export) the way workerd does,
 * waiting for its `waitUntil` work (but for a stream's, which lasts as long as the stream).
 * Relative URLs are resolved against the gateway host.
 */
export async function callWorker(
  path: string,
  init: RequestInit = {},
  overrides: Partial<Record<keyof Env, string>> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(new URL(path, 'https://edge.test'), init);
  const response = await worker.fetch(request, testEnv(overrides), ctx);
  // A run stream keeps its request alive until the stream ends (its slot is released
  // through waitUntil): waiting for that before the caller may read it would deadlock.
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    waitOnExecutionContext(ctx).catch(() => undefined);
    return response;
  }
  await waitOnExecutionContext(ctx);
  return response;
}
