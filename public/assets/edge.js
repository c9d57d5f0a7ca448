// Shared by the /docs and /demo pages: session token handling, an SSE parser for
// fetch() bodies (EventSource cannot send Authorization), and readers for the
// gateway's error body and RateLimit headers. No dependencies; types in edge.d.ts.

const TOKEN_KEY = 'epsimo-edge-token';

/**
 * The tab's session token, and the one a `#token=...` link offers. A link can be made by
 * anyone, so its token is never used (nor remembered) on arrival: `offered` is it when it
 * differs from the tab's own, for the page to show whose it is and ask before using it
 * (`rememberToken`). The fragment never reaches a server and is removed from the
 * address bar either way.
 * @returns {{ token: string, offered: string | null }}
 */
export function takeToken() {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? '';
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get('token')?.trim();
  if (fragment.has('token')) {
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  return { token, offered: given && given !== token ? given : null };
}

/** Whose a token says it is, for the reader to judge (the gateway verifies it, not this). */
export function describeToken(token) {
  const claims = tokenClaims(token);
  if (!claims) return 'a token that is not a readable JWT';
  const expires = typeof claims.exp === 'number' ? new Date(claims.exp * 1000).toLocaleString() : 'unknown';
  return `tenant ${claims.tenant ?? '?'}, user ${claims.sub ?? '?'} (expires ${expires})`;
}

export function rememberToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The claims of a JWT, for display only (the gateway verifies it); null if unreadable. */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1] ?? '';
    const json = atob(part.replaceAll('-', '+').replaceAll('_', '/'));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/**
 * An incremental SSE parser (the WHATWG rules: LF, CR or CRLF line ends, split
 * chunks, multi-line `data`, `:` comments). Calls `onEvent({ event, data, id })` for
 * each dispatched event and `onComment(text)` for each comment.
 */
export function createSseParser({ onEvent, onComment = () => {} }) {
  let buffer = '';
  let data = [];
  let event = '';
  let id = '';
  const line = (text) => {
    if (text === '') {
      if (data.length > 0) onEvent({ event: event || 'message', data: data.join('\n'), id });
      data = [];
      event = '';
      return;
    }
    if (text.startsWith(':')) return onComment(text.slice(1).trimStart());
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
  };
  return {
    feed(chunk) {
      buffer += chunk;
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        // A lone CR at the end may be the first half of a CRLF: wait for the next chunk.
        if (end === -1 || (end === buffer.length - 1 && buffer[end] === '\r')) return;
        const width = buffer.startsWith('\r\n', end) ? 2 : 1;
        line(buffer.slice(0, end));
        buffer = buffer.slice(end + width);
      }
    },
    end() {
      if (buffer.endsWith('\r')) line(buffer.slice(0, -1));
      buffer = '';
    },
  };
}

/** The SSE events of a fetch() response body, as they arrive; comments are dropped. */
export async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const queue = [];
  const parser = createSseParser({ onEvent: (event) => queue.push(event) });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      yield* queue.splice(0);
    }
    parser.end();
    yield* queue.splice(0);
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * The gateway's error body (`{ error, detail, code, request_id, field? }`) of a
 * failed response, or a stand-in built from the status when the body is not one.
 */
export async function readError(response) {
  const text = await response.text().catch(() => '');
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const pick = (key) => (body && typeof body[key] === 'string' ? body[key] : undefined);
  return {
    status: response.status,
    code: pick('code') ?? 'HTTP_ERROR',
    detail: pick('detail') ?? (response.statusText || `HTTP ${response.status}`),
    request_id: pick('request_id') ?? response.headers.get('X-Request-Id') ?? '',
    field: pick('field'),
    retry_after: response.headers.get('Retry-After'),
  };
}

/**
 * The IETF `RateLimit` and `RateLimit-Policy` headers as one entry per policy:
 * `"user";r=118;t=1` + `"user";q=120;w=60` → `{ name: 'user', remaining: 118,
 * reset: 1, quota: 120, window: 60 }`. Unknown parameters are ignored.
 */
export function parseRateLimit(rateLimit, policy) {
  const items = (header) =>
    (header ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
      .map((item) => {
        const [name, ...params] = item.split(';').map((part) => part.trim());
        const values = Object.fromEntries(
          params.map((param) => {
            const [key, value] = param.split('=');
            return [key, Number(value)];
          }),
        );
        return { name: name.replace(/^"|"$/g, ''), values };
      });
  const quotas = new Map(items(policy).map((item) => [item.name, item.values]));
  return items(rateLimit).map(({ name, values }) => ({
    name,
    remaining: values.r,
    reset: values.t,
    quota: quotas.get(name)?.q,
    window: quotas.get(name)?.w,
  }));
}
