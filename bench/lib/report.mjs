// The bench's output: one table on stdout, notes under it, and bench/out/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * @typedef {{
 *   name: string, target: string, baseline: string | null, optional: boolean,
 *   status: 'ok' | 'skipped' | 'error', reason?: string,
 *   wrk?: import('./wrk.mjs').WrkResult, paced?: import('./paced.mjs').PacedResult,
 *   upstreamPerRequest?: number, refusedShare?: number, warnings: string[],
 *   ratios?: { rps: number, p50Paced: number, p50Wrk: number },
 * }} RowResult
 */

/**
 * Fills in each row's ratios against its baseline row (when both measured).
 * @param {RowResult[]} rows
 */
export function computeRatios(rows) {
  for (const row of rows) {
    const base = rows.find((r) => r.name === row.baseline);
    if (
      row.status !== 'ok' ||
      !base ||
      base.status !== 'ok' ||
      !row.wrk ||
      !base.wrk ||
      !row.paced ||
      !base.paced
    ) {
      continue;
    }
    row.ratios = {
      rps: row.wrk.rps / base.wrk.rps,
      p50Paced: row.paced.p50 / base.paced.p50,
      p50Wrk: row.wrk.p50 / base.wrk.p50,
    };
  }
}

export const ms = (/** @type {number | undefined} */ v) =>
  v === undefined || !Number.isFinite(v) ? '-' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
export const ratio = (/** @type {number | undefined} */ v) =>
  v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`;

/**
 * Renders the table and the numbered notes under it.
 * @param {RowResult[]} rows
 * @param {string} bareName the name of the row the ratio columns are headed after
 * @returns {string}
 */
export function renderTable(rows, bareName) {
  const header = [
    'scenario',
    'rps',
    'p50 (wrk)',
    'p50 (paced)',
    'p99 (paced)',
    'rps ratio vs bare',
    'p50 ratio vs bare',
    'upstream/req',
  ];
  /** @type {string[]} */
  const notes = [];
  const note = (/** @type {string} */ text) => {
    notes.push(text);
    return `[${notes.length}]`;
  };
  const body = rows.map((row) => {
    if (row.status === 'skipped') {
      return [
        `${row.name} ${note(`${row.name}: ${row.reason}`)}`,
        'n/a (route not implemented)',
        '',
        '',
        '',
        '',
        '',
        '',
      ];
    }
    if (row.status === 'error')
      return [row.name, `failed ${note(`${row.name}: ${row.reason}`)}`, '', '', '', '', '', ''];
    const marks = row.warnings.map((w) => note(`${row.name}: ${w}`)).join('');
    const vs = row.baseline && row.baseline !== bareName ? ` (vs ${row.baseline})` : '';
    return [
      `${row.name}${marks ? ` ${marks}` : ''}`,
      Math.round(row.wrk?.rps ?? 0).toLocaleString('en-US'),
      ms(row.wrk?.p50),
      ms(row.paced?.p50),
      ms(row.paced?.p99),
      row.ratios ? `${ratio(row.ratios.rps)}${vs}` : '-',
      row.ratios ? `${ratio(row.ratios.p50Paced)}${vs}` : '-',
      row.upstreamPerRequest === undefined || !Number.isFinite(row.upstreamPerRequest)
        ? '-'
        : row.upstreamPerRequest.toFixed(2),
    ];
  });
  const table = grid(header, body);
  return notes.length === 0 ? table : `${table}\n\n${notes.map((n, i) => `[${i + 1}] ${n}`).join('\n')}`;
}

/**
 * A Markdown table: first column left-aligned, the others right-aligned.
 * @param {string[]} header @param {string[][]} body
 */
export function grid(header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] ?? '').length)));
  const line = (/** @type {string[]} */ cells) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

/**
 * Writes the full results (all percentiles, raw wrk output excluded) as JSON.
 * @param {string} file
 * @param {Record<string, unknown>} meta
 * @param {RowResult[]} rows
 * @param {Record<string, unknown>} [sections] the stream and limiter sections
 */
export function writeJson(file, meta, rows, sections = {}) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...meta, rows, sections }, null, 2)}\n`);
}
