// The targets the issues set (13: durable runs; 17: reads and streams at the floor), each
// computed from one bench run's rows and sections as `{ value, target, met }`, so that
// bench/out/latest.json says which are met and the README table is generated from it.

/**
 * @typedef {{
 *   value: number | null, target: number, met: boolean, comparison: Comparison,
 *   unit: string, issue: number, what: string, detail?: string,
 * }} Goal
 *   `value` null: not measured in this run (a partial run, or the section failed); `met` is
 *   then false.
 * @typedef {'<=' | '>=' | '<'} Comparison
 */

/**
 * @param {number | null | undefined} value @param {Comparison} comparison @param {number} target
 * @param {Omit<Goal, 'value' | 'target' | 'met' | 'comparison'>} about
 * @returns {Goal}
 */
function goal(value, comparison, target, about) {
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : value;
  const met =
    v !== null && (comparison === '<=' ? v <= target : comparison === '<' ? v < target : v >= target);
  return { value: v, target, met, comparison, ...about };
}

/**
 * @param {import('./report.mjs').RowResult[]} rows
 * @param {Record<string, any>} sections
 * @returns {Record<string, Goal>}
 */
export function computeGoals(rows, sections) {
  /** @type {Record<string, Goal>} */
  const goals = {};
  const read = rows.find((r) => r.name === 'proxy GET /v1/threads/{id}');
  goals.read_p50_vs_bare = goal(read?.ratios?.p50Paced, '<=', 1.3, {
    unit: 'x',
    issue: 17,
    what: '`GET /v1/threads/{id}` paced p50 / bare pass-through',
  });
  goals.read_rps_vs_bare = goal(read?.ratios?.rps, '>=', 0.75, {
    unit: 'x',
    issue: 17,
    what: '`GET /v1/threads/{id}` wrk rps / bare pass-through',
  });

  const sse = sections.sse && !sections.sse.error ? sections.sse : undefined;
  const proxy = sse?.targets?.find((/** @type {{ name: string }} */ t) => t.name === 'proxy');
  const bare = sse?.targets?.find((/** @type {{ name: string }} */ t) => t.name === 'bare pass-through');
  const both = (/** @type {string} */ key) =>
    bare?.addedVsDirect ? `bare pass-through: +${bare.addedVsDirect[key].toFixed(2)} ms` : undefined;
  goals.run_event_p50_added_ms = goal(proxy?.addedVsDirect?.lagP50, '<=', 0.5, {
    unit: 'ms',
    issue: 13,
    what: 'a run’s per-event delay over direct, p50 (the run path with its log)',
    ...(both('lagP50') ? { detail: both('lagP50') } : {}),
  });
  goals.run_first_event_p50_added_ms = goal(proxy?.addedVsDirect?.ttfeP50, '<=', 2, {
    unit: 'ms',
    issue: 13,
    what: 'a run’s first event over direct, p50',
    ...(both('ttfeP50') ? { detail: both('ttfeP50') } : {}),
  });

  const streams = sections.streams && !sections.streams.error ? sections.streams : undefined;
  const open = streams?.targets?.find((/** @type {{ name: string }} */ t) => t.name === 'proxy');
  const floor = streams?.targets?.find((/** @type {{ name: string }} */ t) => t.name === 'bare pass-through');
  const kib = (/** @type {number} */ b) => `${(b / 1024).toFixed(1)} KiB`;
  goals.run_memory_vs_bare = goal(open && open.done === open.streams ? open.ratioVsBare : null, '<=', 1.5, {
    unit: 'x',
    issue: 13,
    what: `workerd RSS per open run at ${streams?.settings?.streams ?? 1000} concurrent runs / bare pass-through per stream`,
    ...(open && floor
      ? { detail: `${kib(open.bytesPerStream)} per run, bare ${kib(floor.bytesPerStream)} per stream` }
      : {}),
  });

  const distance = sections.distance && !sections.distance.error ? sections.distance : undefined;
  if (distance) {
    goals.read_p50_rise_with_do_delay_ms = goal(distance.readRiseP50, '<', 2, {
      unit: 'ms',
      issue: 17,
      what: `\`GET /v1/threads/{id}\` paced p50 rise with BENCH_DO_DELAY_MS=${distance.delayMs}`,
    });
  }
  return goals;
}

/**
 * The goals as a Markdown table.
 * @param {Record<string, Goal>} goals
 */
export function renderGoals(goals) {
  const fmt = (/** @type {Goal} */ g) =>
    g.value === null
      ? 'not measured'
      : g.unit === 'x'
        ? `${g.value.toFixed(2)}x`
        : `${g.value.toFixed(2)} ms`;
  const lines = ['| target | issue | measured | goal | met |', '|:--|--:|--:|--:|:--|'];
  for (const g of Object.values(goals)) {
    const target = g.unit === 'x' ? `${g.target}x` : `${g.target} ms`;
    lines.push(
      `| ${g.what}${g.detail ? ` (${g.detail})` : ''} | ${g.issue} | ${fmt(g)} | ${g.comparison.replace('<=', '≤').replace('>=', '≥')} ${target} | ${g.met ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}
