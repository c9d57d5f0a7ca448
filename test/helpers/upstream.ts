import { env } from 'cloudflare:workers';
import { ApiError } from '../../src/errors';
import { UpstreamClient, type UpstreamClientOptions } from '../../src/upstream/client';
import { createTokenSource } from '../../src/upstream/tokens';
import type { AccountConfig } from '../../src/upstream/types';
import { CANARY_EMAIL, CANARY_PASSWORD } from '../emulator/canaries';
import { freshEmulator } from './emulator';

/**
 * A fresh emulator universe with the upstream client wired the way the Worker wires it
 * (isolate token cache in front of the real TokenBroker object).
 */
export function upstreamUniverse(requestId: string, password = CANARY_PASSWORD) {
  const emulator = freshEmulator();
  const account: AccountConfig = { baseUrl: emulator.baseUrl, email: CANARY_EMAIL, password };
  const tokens = createTokenSource({ namespace: env.TOKEN_BROKER, account });
  const client = (options: Partial<UpstreamClientOptions> = {}) =>
    new UpstreamClient({ account, tokens, requestId, ...options });
  return { emulator, account, tokens, client };
}

/** The `ApiError` a promise rejects with (fails the test on anything else). */
export async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err;
}
