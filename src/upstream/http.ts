/**
 * Low-level pieces shared by the upstream client and the token broker: URL building from
 * encoded segments, the header allow-list, bounded body reads and abortable sleeps.
 */

/** Thrown for a programming error in an upstream call's description (never a client's fault). */
export class UpstreamCallError extends Error {
  override readonly name = 'UpstreamCallError';
}

/** The parts of a URL: validated path segments, optional trailing slash, query. */
export interface UrlParts {
  path: readonly string[];
  trailingSlash?: boolean;
  query?: Record<string, string | number | undefined>;
}

/**
 * `baseUrl` + `/` + each segment percent-encoded + optional `/` + query. Empty, `.` and `..`
 * segments are refused: callers validate ids with `IdSchema` first, so one here is a bug.
 */
export function buildUrl(baseUrl: string, parts: UrlParts): string {
  if (parts.path.length === 0) throw new UpstreamCallError('upstream path is empty');
  const segments = parts.path.map((segment) => {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new UpstreamCallError('invalid upstream path segment');
    }
    return encodeURIComponent(segment);
  });
  let url = `${baseUrl.replace(/\/+$/, '')}/${segments.join('/')}${parts.trailingSlash ? '/' : ''}`;
  if (parts.query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(parts.query)) {
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  return url;
}

/** The only headers an upstream request carries (built here, never copied from a caller). */
export interface HeaderParts {
  token?: string;
  accept: string;
  json: boolean;
  /** The body's type when it is neither JSON nor a `FormData` (which sets its own). */
  contentType?: string;
  requestId?: string;
}

/** Builds request headers from the allow-list: Authorization, Accept, Content-Type, X-Request-Id. */
export function buildHeaders(parts: HeaderParts): Headers {
  const headers = new Headers({ Accept: parts.accept });
  if (parts.token !== undefined) headers.set('Authorization', `Bearer ${parts.token}`);
  if (parts.json) headers.set('Content-Type', 'application/json');
  else if (parts.contentType !== undefined) headers.set('Content-Type', parts.contentType);
  if (parts.requestId !== undefined) headers.set('X-Request-Id', parts.requestId);
  return headers;
}

/** Reads at most `maxBytes` of a body as text (for logs), then cancels the rest. Never throws. */
export async function readSnippet(res: Response, maxBytes = 2048): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    while (bytes < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    // The body failed mid-read: what was read is enough for a log line.
  }
  return text;
}

/** Discards a body we will not read, so the connection can be released. Never throws. */
export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The path of an upstream URL, for logs: no host, no query. */
export function logPath(parts: UrlParts): string {
  return `/${parts.path.map(encodeURIComponent).join('/')}${parts.trailingSlash ? '/' : ''}`;
}
