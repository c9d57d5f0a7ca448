// One row of the main table: a probe, a wrk warm-up, the measured wrk run, then the
// paced client (warm-up and measured), with the emulator's request count around it.
import { upstreamRequestCount } from './emulator.mjs';
import { runPaced } from './paced.mjs';
import { runWrk } from './wrk.mjs';

/**
 * @typedef {{
 *   ctx: import('../scenarios.mjs').BenchContext,
 *   targets: Record<import('../scenarios.mjs').Target, { ok: { url: string } } | { error: string }>,
 *   emulatorUrl: string, bare: string, seconds: number, warmupSeconds: number,
 *   pacedRequests: number, pacedBudgetMs: number, connections: number, threads: number,
 *   scriptFile: string,
 * }} RowOptions
 */

/**
 * Measures one scenario; never throws (a failure is the row's `status`/`reason`).
 * @param {import('../scenarios.mjs').Scenario} scenario
 * @param {RowOptions} o
 * @returns {Promise<import('./report.mjs').RowResult>}
 */
export async function measureRow(scenario, o) {
  const { ctx } = o;
  /** @type {import('./report.mjs').RowResult} */
  const row = {
    name: scenario.name,
    target: scenario.target,
    baseline: scenario.baseline === undefined ? o.bare : scenario.baseline,
    optional: scenario.optional === true,
    status: 'ok',
    warnings: [],
  };
  try {
    const target = o.targets[scenario.target];
    if ('error' in target) throw new Error(target.error);
    const setup = await scenario.setup(ctx);
    if ('skip' in setup) {
      if (!row.optional) throw new Error(`setup skipped: ${setup.skip}`);
      return Object.assign(row, { status: 'skipped', reason: setup.skip });
    }
    const expectStatus = scenario.expectStatus ?? 200;
    const probe = await ctx.request(scenario.target, setup);
    if (probe.status !== expectStatus) {
      const reason = `first request answered ${probe.status}, not ${expectStatus}: ${probe.text.slice(0, 160)}`;
      return Object.assign(row, row.optional ? { status: 'skipped', reason } : { status: 'error', reason });
    }
    const before = await upstreamRequestCount(o.emulatorUrl);
    const request = { method: setup.method ?? 'GET', headers: setup.headers ?? {}, body: setup.body };
    const url = `${ctx.urls[scenario.target]}${setup.path}`;
    const wrkOpts = {
      url,
      ...request,
      threads: o.threads,
      connections: o.connections,
      scriptFile: o.scriptFile,
    };
    const warm = await runWrk({ ...wrkOpts, seconds: o.warmupSeconds });
    const { raw: _raw, ...wrk } = await runWrk({ ...wrkOpts, seconds: o.seconds });
    row.wrk = wrk;
    const pacedOpts = { expectStatus, deadlineMs: o.pacedBudgetMs };
    const pacedWarm = await runPaced(url, request, { ...pacedOpts, count: 200 });
    row.paced = await runPaced(url, request, { ...pacedOpts, count: o.pacedRequests });
    const after = await upstreamRequestCount(o.emulatorUrl);

    const sent =
      1 +
      warm.requests +
      wrk.requests +
      pacedWarm.count +
      pacedWarm.errors +
      row.paced.count +
      row.paced.errors;
    row.upstreamPerRequest = (after.total - before.total) / sent;
    // A row that expects a refusal counts its share instead of warning about it.
    if (expectStatus >= 300) row.refusedShare = wrk.non2xx / wrk.requests;
    else if (wrk.non2xx > 0) row.warnings.push(`wrk saw ${wrk.non2xx} non-2xx/3xx responses`);
    if (wrk.socketErrors > 0) row.warnings.push(`wrk saw ${wrk.socketErrors} socket errors`);
    if (row.paced.errors > 0)
      row.warnings.push(`paced client: ${row.paced.errors} errors, first: ${row.paced.firstError}`);
    if (row.paced.count < o.pacedRequests)
      row.warnings.push(`paced client sent only ${row.paced.count} requests in its time budget`);
    if (after.rateLimited > before.rateLimited) row.warnings.push('the emulator rate-limited some requests');
  } catch (err) {
    Object.assign(row, {
      status: 'error',
      reason: err instanceof Error ? err.message.split('\n')[0] : String(err),
    });
  }
  return row;
}
