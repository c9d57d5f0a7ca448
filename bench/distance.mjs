// Section "distance": what a far Durable Object costs each route. A second proxy is served
// with BENCH_DO_DELAY_MS (lib/do-delay.mjs: every call on a Durable Object stub waits that
// long first, as a round trip to an object on another continent would); the same routes
// are measured, paced, on both proxies. A route's rise / the delay is how many object
// round trips it waits on: a read admitted locally would rise by ~0; today every /v1
// route pays at least one (admission).
import http from 'node:http';
import { runPaced } from './lib/paced.mjs';
import { proxyThread } from './lib/runs.mjs';
import { streamRun, summarize } from './lib/sse-client.mjs';

/**
 * @param {{
 *   ctx: import('./scenarios.mjs').BenchContext, delayMs: number, requests: number,
 *   runs: number, serveFar: () => Promise<import('./lib/targets.mjs').Served>,
 * }} o
 */
export async function measureDistance(o) {
  const far = await o.serveFar();
  try {
    const jwt = await o.ctx.sessionJwt(`bench-distance-${o.ctx.runId}`);
    const auth = { authorization: `Bearer ${jwt}` };
    const near = o.ctx.urls.proxy;
    const [nearThread, farThread] = [await proxyThread(near, jwt), await proxyThread(far.url, jwt)];
    const json = { ...auth, 'content-type': 'application/json' };
    /** @type {{ name: string, spec: (url: string, thread: string) => { path: string, method: string, headers: Record<string, string>, body?: string }, expect: number, count: number }[]} */
    const routes = [
      {
        name: 'GET /v1/threads/{id} (a read)',
        spec: (_url, thread) => ({ path: `/v1/threads/${thread}`, method: 'GET', headers: auth }),
        expect: 200,
        count: o.requests,
      },
      {
        name: 'GET /v1/usage (admission only)',
        spec: () => ({ path: '/v1/usage', method: 'GET', headers: auth }),
        expect: 200,
        count: o.requests,
      },
      {
        name: 'POST /v1/threads (creation: exact)',
        spec: () => ({
          path: '/v1/threads',
          method: 'POST',
          headers: json,
          body: JSON.stringify({ name: 'bench distance' }),
        }),
        expect: 201,
        count: Math.max(20, Math.round(o.requests / 5)),
      },
    ];
    const rows = [];
    for (const route of routes) {
      /** @type {Record<string, import('./lib/paced.mjs').PacedResult>} */
      const paced = {};
      for (const [which, url, thread] of [
        ['near', near, nearThread],
        ['far', far.url, farThread],
      ]) {
        const { path, ...spec } = route.spec(url, thread);
        const opts = { pauseMs: 1, deadlineMs: 30_000, expectStatus: route.expect };
        await runPaced(`${url}${path}`, spec, { ...opts, count: Math.min(50, route.count) });
        paced[which] = await runPaced(`${url}${path}`, spec, { ...opts, count: route.count });
      }
      rows.push(row(route.name, paced.near, paced.far, o.delayMs));
    }
    // A run: admission, then the thread's runs object (a costly route, exact by design).
    const runFirst = {};
    for (const [which, url, thread] of [
      ['near', near, nearThread],
      ['far', far.url, farThread],
    ]) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const target = {
        headers: { ...json, accept: 'text/event-stream' },
        body: JSON.stringify({ message: 'bench', stream: true }),
      };
      /** @type {number[]} */
      const firsts = [];
      let errors = 0;
      try {
        for (let i = 0; i < o.runs + 5; i++) {
          const r = await streamRun(`${url}/v1/threads/${thread}/run`, target, { agent, timeoutMs: 10_000 });
          if (r.error || !r.events[0]) errors++;
          else if (i >= 5) firsts.push(r.events[0].at - r.sentAt);
        }
      } finally {
        agent.destroy();
      }
      runFirst[which] = { ...summarize(firsts), errors };
    }
    rows.push(
      row(
        'POST /v1/threads/{id}/run, first event (a run: exact)',
        /** @type {any} */ (runFirst).near,
        /** @type {any} */ (runFirst).far,
        o.delayMs,
      ),
    );
    return {
      delayMs: o.delayMs,
      settings: { requests: o.requests, runs: o.runs },
      rows,
      readRiseP50: rows[0]?.rise ?? null,
    };
  } finally {
    await far.stop();
  }
}

/**
 * @param {string} name @param {{ p50: number, p99: number, errors: number } | undefined} near
 * @param {{ p50: number, p99: number, errors: number } | undefined} far @param {number} delayMs
 */
function row(name, near, far, delayMs) {
  const rise = (far?.p50 ?? Number.NaN) - (near?.p50 ?? Number.NaN);
  return {
    name,
    p50: near?.p50 ?? null,
    p99: near?.p99 ?? null,
    delayedP50: far?.p50 ?? null,
    delayedP99: far?.p99 ?? null,
    rise,
    roundTrips: rise / delayMs,
    calls: Number.isFinite(rise) ? `≈ ${(rise / delayMs).toFixed(1)}` : '-',
    errors: (near?.errors ?? 0) + (far?.errors ?? 0),
  };
}
