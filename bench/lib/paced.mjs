// The paced client: one keep-alive connection, one request at a time, a short pause
// between requests. This is how the bench measures p50/p99 latency: wrk's back-to-back
// requests give workerd a p99 of 60-75 ms that a real caller never sees.
import http from 'node:http';

/**
 * @typedef {{ method: string, headers: Record<string, string>, body?: string }} RequestSpec
 * @typedef {{ count: number, p50: number, p90: number, p99: number, max: number,
 *   mean: number, errors: number, firstError?: string }} PacedResult latencies in ms
 */

/**
 * Sends one request on `agent` and reads the whole answer.
 * @param {http.Agent} agent
 * @param {URL} url
 * @param {RequestSpec} spec
 * @returns {Promise<{ status: number, body: string }>}
 */
export function send(agent, url, spec) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: spec.method, headers: spec.headers, agent, timeout: 10_000 },
      (res) => {
        /** @type {Buffer[]} */
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out after 10 s')));
    req.on('error', reject);
    req.end(spec.body);
  });
}

/** @param {number[]} sorted ascending @param {number} q in [0, 1] */
function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * Sends `count` requests one after another with `pauseMs` between them, stopping early
 * at `deadlineMs` (wall clock, relative). A request that answers with another status
 * than `expectStatus` counts as an error and its latency is not recorded.
 * @param {string} target absolute URL
 * @param {RequestSpec} spec
 * @param {{ count: number, pauseMs?: number, deadlineMs: number, expectStatus: number }} opts
 * @returns {Promise<PacedResult>}
 */
export async function runPaced(target, spec, opts) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(target);
  /** @type {number[]} */
  const latencies = [];
  let errors = 0;
  /** @type {string | undefined} */
  let firstError;
  const deadline = Date.now() + opts.deadlineMs;
  try {
    for (let i = 0; i < opts.count && Date.now() < deadline; i++) {
      const start = process.hrtime.bigint();
      try {
        const res = await send(agent, url, spec);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (res.status === opts.expectStatus) latencies.push(ms);
        else {
          errors++;
          firstError ??= `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
        }
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
      await pause(opts.pauseMs ?? 1);
    }
  } finally {
    agent.destroy();
  }
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((s, x) => s + x, 0) / (latencies.length || 1);
  return {
    count: latencies.length,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
    mean,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** A pause of about `ms`; setTimeout's 1 ms floor is what the runtime facts were measured with. */
function pause(/** @type {number} */ ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
