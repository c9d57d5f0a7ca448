// The SSE client of the stream sections: one streamed run over node:http, with the
// arrival time of every event (performance.now(), ms) taken when the chunk that
// completes it is read. Events are blocks ending in a blank line; a block without a
// `data:` line (a `: ping` comment) is not an event.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * @typedef {{ method?: string, headers: Record<string, string>, body?: string }} RunRequest
 * @typedef {{ status: number, sentAt: number, events: { at: number, type: string }[],
 *   done: boolean, error?: string, body?: string }} StreamResult
 *   `events[].at` and `sentAt` are performance.now() values; `done` = a `done` event arrived.
 */

/**
 * Sends one request and reads its event stream to the end.
 * @param {string} target absolute URL
 * @param {RunRequest} req
 * @param {{ agent: http.Agent, timeoutMs: number, onEvent?: (type: string) => void }} opts
 * @returns {Promise<StreamResult>} never rejects: failures are in `error`
 */
export function streamRun(target, req, opts) {
  return new Promise((resolve) => {
    /** @type {StreamResult} */
    const result = { status: 0, sentAt: performance.now(), events: [], done: false };
    let buffer = '';
    let settled = false;
    const finish = (/** @type {string | undefined} */ error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) result.error = error;
      resolve(result);
    };
    const timer = setTimeout(() => {
      request.destroy();
      finish(`no end after ${opts.timeoutMs} ms (${result.events.length} events)`);
    }, opts.timeoutMs);
    const request = http.request(target, {
      method: req.method ?? 'POST',
      headers: req.headers,
      agent: opts.agent,
    });
    request.on('response', (res) => {
      result.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (result.status !== 200) {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          result.body = text.slice(0, 300);
          finish(`HTTP ${result.status}`);
        });
        return;
      }
      res.on('data', (/** @type {string} */ chunk) => {
        const at = performance.now();
        buffer += chunk.replace(/\r\n?/g, '\n');
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const type = eventType(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (type !== null) {
            result.events.push({ at, type });
            if (type === 'done') result.done = true;
            opts.onEvent?.(type);
          }
          end = buffer.indexOf('\n\n');
        }
      });
      res.on('end', () => finish(result.done ? undefined : 'the stream ended without done'));
      res.on('error', (err) => finish(err.message));
    });
    request.on('error', (err) => finish(err.message));
    request.end(req.body);
  });
}

/**
 * The type of one SSE block: its `event:` field, else the `type` of its JSON data;
 * null for comments. `data: [DONE]` counts as `done`.
 * @param {string} block
 * @returns {string | null}
 */
export function eventType(block) {
  let event = '';
  let data = '';
  let hasData = false;
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) {
      hasData = true;
      data += line.slice(5).trim();
    }
  }
  if (!hasData) return null;
  if (event) return event;
  if (data === '[DONE]') return 'done';
  try {
    const type = JSON.parse(data).type;
    return typeof type === 'string' ? type : 'message';
  } catch {
    return 'message';
  }
}

/** @param {number[]} values @param {number} q in [0, 1] (values need not be sorted) */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** @param {number[]} values */
export const summarize = (values) => ({
  n: values.length,
  p50: quantile(values, 0.5),
  p90: quantile(values, 0.9),
  p99: quantile(values, 0.99),
  max: values.length ? Math.max(...values) : Number.NaN,
});
