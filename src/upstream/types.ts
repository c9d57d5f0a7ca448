/** The one upstream account the gateway logs in as (from bindings; never leaves the Worker). */
export interface AccountConfig {
  baseUrl: string;
  email: string;
  password: string;
}

/** Which upstream token a call needs: the account token, or a project's token. */
export type TokenScope = 'account' | `project:${string}`;

/** A token the broker handed out. Times are epoch milliseconds. */
export interface TokenGrant {
  ok: true;
  token: string;
  /** When the upstream stops accepting it (`exp`). */
  expiresAt: number;
  /** When callers should stop using it and ask for a fresh one. */
  refreshAt: number;
}

/** The broker could not get a token; callers answer 503 with `Retry-After`. */
export interface TokenDenied {
  ok: false;
  /** Seconds until a new attempt may succeed. */
  retryAfter: number;
  reason: 'login_rejected' | 'upstream_unavailable' | 'project_unavailable';
}

export type TokenResult = TokenGrant | TokenDenied;

/** Where the upstream client gets tokens (the isolate cache in front of the broker). */
export interface TokenSource {
  /** A usable token for `scope`; throws `ApiError(503)` when none can be had. */
  get(scope: TokenScope): Promise<string>;
  /** Reports `token` as rejected by the upstream (401) and returns a fresh one. */
  refresh(scope: TokenScope, rejected: string): Promise<string>;
}

/** One upstream call, described by validated parts only. */
export interface UpstreamCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments, each percent-encoded by the client: `['threads', id, 'messages']`. */
  path: readonly string[];
  /** Collection endpoints take a trailing slash (`/threads/`). */
  trailingSlash?: boolean;
  query?: Record<string, string | number | undefined>;
  /**
   * Names of `query` values taken from the caller that only the upstream can judge (an
   * opaque cursor). An upstream 400/422 whose `field` is one of them is the caller's
   * `400 VALIDATION_ERROR` naming it; any other 400/422 refuses what the gateway built,
   * so it is a 502.
   */
  callerFields?: readonly string[];
  /** A JSON body. */
  json?: unknown;
  /** A multipart body (replayable: a `FormData`, never a one-shot stream). */
  form?: FormData;
  /**
   * A body read once as it is sent (an upload streamed through): never retried, and a 401
   * is not replayed with it (the token is refreshed, the call fails with 503, the caller
   * sends again).
   */
  stream?: { body: ReadableStream<Uint8Array>; contentType: string };
  scope: TokenScope;
  /** Overrides the client's default timeout (ms) for this call. */
  timeoutMs?: number;
  /** Aborts the call (e.g. the caller went away). */
  signal?: AbortSignal;
}
