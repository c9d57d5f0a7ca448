// The bench's upstream fixtures and counters on the emulator (started by
// scripts/lib/emulator.mjs, shared with the process tests).
import { EMULATOR_EMAIL, EMULATOR_PASSWORD } from '../../scripts/lib/emulator.mjs';

/**
 * The account's `thread_max` in the bench: the streams section alone creates over 1,000
 * threads (one per concurrent run), and the proxy's account guard refuses creations and
 * runs once at most 10 are left.
 */
export const BENCH_THREAD_MAX = 1_000_000_000;

/**
 * Raises the account's thread allowance, logs in, fetches the project token of
 * `projectId` and creates one thread, as the direct-baseline request needs them.
 * @param {string} url the emulator's origin
 * @param {string} projectId
 * @returns {Promise<{ accountToken: string, projectToken: string, threadId: string }>}
 */
export async function upstreamFixtures(url, projectId) {
  await call(url, 'POST', '/__emulator/account', undefined, { thread_max: BENCH_THREAD_MAX });
  const login = await call(url, 'POST', '/auth/login', undefined, {
    email: EMULATOR_EMAIL,
    password: EMULATOR_PASSWORD,
  });
  const accountToken = field(login, 'access_token', 'POST /auth/login');
  const project = await call(url, 'GET', `/projects/${projectId}`, accountToken);
  const projectToken = field(project, 'access_token', `GET /projects/${projectId}`);
  const thread = await call(url, 'POST', '/threads/', projectToken, {
    name: 'bench thread',
    assistant_id: 'asst_support',
  });
  const threadId = field(thread, 'thread_id', 'POST /threads/');
  return { accountToken, projectToken, threadId };
}

/**
 * @param {string} base @param {string} method @param {string} route
 * @param {string} [token] @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function call(base, method, route, token, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`emulator ${method} ${route}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** @param {unknown} value @param {string} key @param {string} what */
function field(value, key, what) {
  const v =
    value && typeof value === 'object' ? /** @type {Record<string, unknown>} */ (value)[key] : undefined;
  if (typeof v !== 'string' || v === '') throw new Error(`${what}: no ${key} in the answer`);
  return v;
}

/**
 * Total number of API requests the emulator has served (control routes excluded), or
 * NaN if its stats are unavailable.
 * @param {string} url
 */
export async function upstreamRequestCount(url) {
  try {
    const res = await fetch(`${url}/__emulator/stats`, { signal: AbortSignal.timeout(5000) });
    const stats = /** @type {{ requests?: Record<string, number>, rate_limited?: number }} */ (
      await res.json()
    );
    const total = Object.entries(stats.requests ?? {})
      .filter(([route]) => !route.includes('/__emulator'))
      .reduce((sum, [, n]) => sum + n, 0);
    return { total, rateLimited: stats.rate_limited ?? 0 };
  } catch {
    return { total: Number.NaN, rateLimited: Number.NaN };
  }
}
