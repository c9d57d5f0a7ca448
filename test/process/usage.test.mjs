// Issue 16, metering from outside: a scripted session (N requests, M threads, K runs),
// then `GET /admin/v1/usage` shows exactly those counts, and still does after the
// workerd process (every Durable Object with it) is restarted between the two halves of
// the session and after it: counts are written (on disk), not held in memory.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describe, poll, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'metered';
const USER = 'counted-user';

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({ name: 'usage', tenants: { [TENANT]: tenantConfig() } });
});

after(() => stack?.stop());

const today = () => new Date().toISOString().slice(0, 10);

/**
 * `threads` thread creations, `runs` streamed runs (each read to its `done`) and
 * `reads` usage reads, as USER: threads + runs + reads requests. Resolves to the events
 * the runs delivered.
 */
async function session({ threads, runs, reads }) {
  const ids = [];
  for (let i = 0; i < threads; i++) ids.push(await stack.createThread(TENANT, USER));
  let events = 0;
  for (let i = 0; i < runs; i++) {
    const stream = await stack.run(TENANT, USER, ids[i % ids.length], `run ${i}`);
    assert.equal(stream.status, 200, `run ${i}: HTTP ${stream.status} ${stream.text}`);
    for (let event = await stream.next(); event; event = await stream.next()) {
      events += 1;
      if (event.event === 'done' || event.event === 'error') assert.equal(event.event, 'done', event.data);
    }
  }
  for (let i = 0; i < reads; i++) await stack.usage(TENANT, USER);
  return events;
}

/** The export's row of USER today, as JSON (group=user), or undefined. */
async function exported() {
  const res = await stack.admin('GET', `/usage?tenant=${TENANT}&group=user&from=${today()}&to=${today()}`);
  assert.equal(res.status, 200, describe(res));
  return res.json.rows.find((/** @type {{ user: string }} */ row) => row.user === USER);
}

/** The counts a session of these sizes must show. */
const expected = ({ requests, threads, runs, events }) => ({
  requests,
  threads_created: threads,
  runs_started: runs,
  runs_completed: runs,
  runs_cancelled: 0,
  events,
  refused: {},
});

const pick = (row) =>
  row && {
    requests: row.requests,
    threads_created: row.threads_created,
    runs_started: row.runs_started,
    runs_completed: row.runs_completed,
    runs_cancelled: row.runs_cancelled,
    events: row.events,
    refused: row.refused,
  };

/** Polls the export until it shows `want` (counts are written within about a second). */
async function waitForExport(want) {
  const seen = await poll(exported, (row) => JSON.stringify(pick(row)) === JSON.stringify(want), {
    timeoutMs: 10_000,
    intervalMs: 200,
  });
  assert.deepEqual(pick(seen.value), want, 'the export after the session');
  return seen.value;
}

test('usage export after a scripted session shows exactly its counts, also across restarts of the Worker', {
  timeout: 60_000,
}, async () => {
  // The day must not change under the session.
  const now = new Date();
  const toMidnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime();
  if (toMidnight < 30_000) await new Promise((resolve) => setTimeout(resolve, toMidnight + 1000));

  const first = { threads: 3, runs: 2, reads: 4 };
  const firstEvents = await session(first);
  const afterFirst = expected({ requests: 9, threads: 3, runs: 2, events: firstEvents });
  await waitForExport(afterFirst);

  // Every object (the tenant's state, which holds the counts) and isolate starts afresh.
  await stack.restartWorker();
  assert.deepEqual(pick(await exported()), afterFirst, 'the export right after a restart');

  const second = { threads: 2, runs: 3, reads: 1 };
  const secondEvents = await session(second);
  const total = expected({ requests: 9 + 6, threads: 5, runs: 5, events: firstEvents + secondEvents });
  const row = await waitForExport(total);
  assert.ok(row.run_seconds > 0, 'run time is metered');
  assert.ok(row.upstream_calls >= 5 + 5, `upstream calls: ${row.upstream_calls}`);

  await stack.restartWorker();
  assert.deepEqual(pick(await exported()), total, 'the export after a second restart');

  // The same counts in CSV and NDJSON.
  const csv = await stack.admin('GET', `/usage?tenant=${TENANT}&group=user&format=csv`);
  assert.equal(csv.status, 200, describe(csv));
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const [header, ...lines] = csv.text.trimEnd().split('\r\n');
  const columns = header.split(',');
  const cells = lines.find((line) => line.includes(USER))?.split(',') ?? [];
  for (const name of ['requests', 'threads_created', 'runs_started', 'runs_completed', 'events']) {
    assert.equal(Number(cells[columns.indexOf(name)]), total[name], `CSV ${name}`);
  }
  const ndjson = await stack.admin('GET', `/usage?tenant=${TENANT}&group=user&format=ndjson`);
  const record = ndjson.text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .find((r) => r.user === USER);
  assert.deepEqual(pick(record), total, 'NDJSON');
});
