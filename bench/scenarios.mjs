// The bench's scenario registry. Each scenario is one row of the table. To bench a new
// route, append an entry to SCENARIOS (and, if it needs its own floor, a `bare` row to
// BASELINES that sends the equivalent upstream request through bench/passthrough.js).
import { mintSessionJwt } from './lib/jwt.mjs';

/**
 * The tenant the proxy is configured with for the bench (the TENANTS binding). Limits
 * are out of the way: the bench measures the proxy's cost, not its rate limiter's 429s
 * nor its budgets (the streams section opens 1,000 runs of one user at once, each on a
 * thread of its own, and the SSE section runs a few hundred more).
 */
const UNLIMITED = 1_000_000_000;
export const BENCH_TENANT_ID = 'bench';
export const BENCH_TENANT = {
  project_id: 'proj_acme',
  session_secret: 'bench-session-secret-0123456789abcdef0123456789abcdef',
  assistants: ['asst_support'],
  limits: {
    requests_per_minute: UNLIMITED,
    burst: UNLIMITED,
    tenant_requests_per_minute: UNLIMITED,
    concurrent_streams: 10_000,
    streams_per_user: 10_000,
    threads_per_user: 1_000_000,
    threads_total: 1_000_000,
    threads_per_user_per_day: UNLIMITED,
    threads_per_day: UNLIMITED,
    threads_per_month: UNLIMITED,
    runs_per_user_per_day: UNLIMITED,
  },
};

/**
 * A second tenant whose users get one request a minute: the limiter rows drain it and
 * then measure the refusal path (429). Its own state object, so the bench tenant's
 * buckets are untouched.
 */
export const LIMITED_TENANT_ID = 'bench-limited';
export const LIMITED_TENANT = {
  ...BENCH_TENANT,
  session_secret: 'bench-limited-secret-0123456789abcdef0123456789abcdef',
  limits: { ...BENCH_TENANT.limits, requests_per_minute: 1, burst: 1 },
};

/** The TENANTS secret the proxy is served with. */
export const BENCH_TENANTS = { [BENCH_TENANT_ID]: BENCH_TENANT, [LIMITED_TENANT_ID]: LIMITED_TENANT };

/**
 * @typedef {'emulator' | 'bare' | 'proxy'} Target where a row's requests go:
 *   the emulator itself, bench/passthrough.js in front of it, or the real Worker.
 *
 * @typedef {{ method?: string, path: string, headers?: Record<string, string>, body?: string }} BenchRequest
 *   the one request a row repeats; `path` includes the query string.
 *
 * @typedef {{
 *   urls: Record<Target, string>,
 *   upstream: { accountToken: string, projectToken: string, threadId: string },
 *   runId: string,
 *   sessionJwt: (sub?: string) => Promise<string>,
 *   request: (target: Target, req: BenchRequest) => Promise<{ status: number, text: string, json: unknown }>,
 * }} BenchContext
 *   what a scenario's setup may use: `request` sends one request (for fixtures),
 *   `sessionJwt` mints an end user's session token for the bench tenant.
 *
 * @typedef {{
 *   name: string,
 *   target: Target,
 *   baseline?: string | null,
 *   expectStatus?: number,
 *   optional?: boolean,
 *   setup: (ctx: BenchContext) => Promise<BenchRequest | { skip: string }>,
 * }} Scenario
 *   `baseline` names the row the ratios are computed against (default: `bare pass-through`;
 *   null for none). `optional` rows print "n/a (route not implemented)" instead of
 *   failing when setup skips or the first request does not answer `expectStatus` (200).
 */

/** The reference rows; every proxy row is compared with one of them. */
/** @type {Scenario[]} */
export const BASELINES = [
  {
    name: 'emulator direct',
    target: 'emulator',
    setup: async (ctx) => ({
      path: `/threads/${ctx.upstream.threadId}`,
      headers: { authorization: `Bearer ${ctx.upstream.projectToken}` },
    }),
  },
  {
    name: 'bare pass-through',
    target: 'bare',
    setup: async (ctx) => ({
      path: `/threads/${ctx.upstream.threadId}`,
      headers: { authorization: `Bearer ${ctx.upstream.projectToken}` },
    }),
  },
];

/** The proxy's rows. Later issues append here. */
/** @type {Scenario[]} */
export const SCENARIOS = [
  {
    name: 'proxy GET /healthz',
    target: 'proxy',
    // No upstream call: the cost of the Worker's own middleware stack.
    setup: async () => ({ path: '/healthz' }),
  },
  {
    name: 'proxy GET /v1/threads/{id}',
    target: 'proxy',
    optional: true,
    // Authenticated and proxied: session JWT check, ownership check, one upstream GET.
    // The thread is created through the proxy so that it belongs to the bench user.
    setup: async (ctx) => {
      const jwt = await ctx.sessionJwt();
      const headers = { authorization: `Bearer ${jwt}` };
      const created = await ctx.request('proxy', {
        method: 'POST',
        path: '/v1/threads',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench ${ctx.runId}` }),
      });
      if (created.status === 404 || created.status === 405) return { skip: 'POST /v1/threads answered 404' };
      const threadId = threadIdOf(created.json);
      if (created.status !== 201 || !threadId) {
        throw new Error(`POST /v1/threads answered ${created.status}: ${created.text.slice(0, 200)}`);
      }
      return { path: `/v1/threads/${threadId}`, headers };
    },
  },
];

/**
 * The limiter's rows (section "limiter" of the output): `GET /v1/usage` passes the
 * admission middleware (one TenantState round trip: both rate buckets, plus the counts
 * usage reports) and calls no upstream; `GET /healthz` passes no admission. Their
 * difference is the limiter's cost; the usage row's wrk rps is decisions per second.
 */
/** @type {Scenario[]} */
export const LIMITER_SCENARIOS = [
  {
    name: 'limiter: proxy GET /v1/usage',
    target: 'proxy',
    baseline: 'proxy GET /healthz',
    setup: async (ctx) => ({
      path: '/v1/usage',
      headers: { authorization: `Bearer ${await ctx.sessionJwt(`bench-limiter-${ctx.runId}`)}` },
    }),
  },
  {
    name: 'limiter: proxy GET /v1/usage, refused (429)',
    target: 'proxy',
    baseline: 'limiter: proxy GET /v1/usage',
    expectStatus: 429,
    // A user of the limited tenant (burst 1, 1 a minute): drain the bucket first, so
    // that (nearly) every measured request is refused.
    setup: async (ctx) => {
      const jwt = await mintSessionJwt({
        secret: LIMITED_TENANT.session_secret,
        tenant: LIMITED_TENANT_ID,
        sub: `bench-limited-${ctx.runId}`,
      });
      const req = { path: '/v1/usage', headers: { authorization: `Bearer ${jwt}` } };
      for (let i = 0; i < 5; i++) if ((await ctx.request('proxy', req)).status === 429) return req;
      throw new Error('the limited tenant never answered 429');
    },
  },
];

/** @param {unknown} json */
function threadIdOf(json) {
  const id =
    json && typeof json === 'object' ? /** @type {Record<string, unknown>} */ (json).thread_id : undefined;
  return typeof id === 'string' ? id : undefined;
}

/** Mints a session token for the bench tenant (HS256 with its session_secret). */
export function benchSessionJwt(/** @type {string} */ sub) {
  return mintSessionJwt({ secret: BENCH_TENANT.session_secret, tenant: BENCH_TENANT_ID, sub });
}
