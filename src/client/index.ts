/**
 * A typed client for epsimo-edge, for frontends and backends alike: nothing here needs
 * the Workers runtime (the app is imported as a type only).
 *
 * ```ts
 * const edge = createEdgeClient({ baseUrl: 'https://edge.example', token });
 * const res = await edge.v1.threads[':thread_id'].run.$post({ param: { thread_id }, json: { message } });
 * for await (const event of runEvents(res)) if (event.type === 'content') show(event.delta);
 * ```
 */
import { hc } from 'hono/client';
import type { AppType } from '../app';

export {
  EdgeError,
  type ResponseLike,
  type RunEvent,
  type RunFrame,
  runEvents,
  runFrames,
  StreamBrokenError,
} from './events';
export { createRunClient, type RunClient, type RunClientOptions } from './runs';
export type { AppType };

export interface EdgeClientOptions {
  /** The gateway's origin (and base path, if any), e.g. `https://edge.example`. */
  baseUrl: string;
  /** The session token, or a function returning a fresh one for each request. */
  token: string | (() => string | Promise<string>);
  /** A `fetch` to use instead of the global one (tests, service bindings, retries). */
  fetch?: typeof fetch;
}

/** `hc<AppType>` with `Authorization: Bearer <token>` on every request. */
export function createEdgeClient({ baseUrl, token, fetch }: EdgeClientOptions) {
  return hc<AppType>(baseUrl, {
    ...(fetch ? { fetch } : {}),
    headers: async () => ({
      Authorization: `Bearer ${typeof token === 'function' ? await token() : token}`,
    }),
  });
}

/** The client {@link createEdgeClient} returns. */
export type EdgeClient = ReturnType<typeof createEdgeClient>;
