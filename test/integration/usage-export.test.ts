import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DENY_REASONS } from '../../src/objects/tenant-schema';
import { TENANTS } from '../fixtures/tenants';
import { operator } from '../helpers/admin';
import { expectError } from '../helpers/assertions';
import { newFile, newThread, textFile, unique, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson, parseText } from '../helpers/json';
import { SseReader } from '../helpers/sse';

const RecordSchema = z.strictObject({
  tenant: z.string(),
  day: z.string(),
  user: z.string().optional(),
  requests: z.number(),
  refused: z.record(z.string(), z.number()),
  threads_created: z.number(),
  runs_started: z.number(),
  runs_completed: z.number(),
  runs_cancelled: z.number(),
  run_seconds: z.number(),
  events: z.number(),
  upstream_calls: z.number(),
  upload_bytes: z.number(),
});
const ExportSchema = z.strictObject({
  from: z.string(),
  to: z.string(),
  group: z.enum(['tenant', 'user']),
  rows: z.array(RecordSchema),
});

const today = () => new Date().toISOString().slice(0, 10);

const run = (caller: Caller, thread_id: string, stream: boolean) =>
  caller.edge.v1.threads[':thread_id'].run.$post({
    param: { thread_id },
    json: { message: 'count me', stream },
  });

/**
 * A scripted session of one user: 2 threads, 2 runs (one streamed, one not), one upload
 * of 5 bytes, one usage read, one request refused for its body and one for a thread that
 * is not theirs: 8 requests. Resolves to the events the streamed run delivered.
 */
async function session(alice: Caller, other: string): Promise<number> {
  const first = await newThread(alice);
  await newThread(alice);
  const streamed = await run(alice, first, true);
  const events = (await new SseReader(streamed).rest()).filter((item) => item.kind === 'event').length;
  expect((await run(alice, first, false)).status).toBe(200);
  await newFile(alice, textFile('hello'));
  await usage(alice);
  await expectError(
    await alice.request('POST', '/v1/threads', { json: { colour: 'red' } }),
    400,
    'VALIDATION_ERROR',
    'colour',
  );
  await expectError(await alice.request('GET', `/v1/threads/${other}`), 404, 'NOT_FOUND');
  return events;
}

describe('GET /admin/v1/usage', () => {
  it('exports exactly what a scripted session did, per tenant and per user, in all three formats', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const tenant = gw.ids.acme ?? '';
    const alice = await gw.caller('acme', `alice-${unique()}`);
    const bob = await gw.caller('acme', `bob-${unique()}`);
    const bobsThread = await newThread(bob);
    const watchFrom = (await gw.emulator.stats()).request_log.length;
    const events = await session(alice, bobsThread);
    expect(events).toBeGreaterThan(2);
    // What reached the upstream for these requests (logins and token fetches are the broker's, not theirs).
    const upstream = (await gw.emulator.stats()).request_log
      .slice(watchFrom)
      .filter((entry) => entry.path !== '/auth/login' && !entry.path.startsWith('/projects/')).length;

    const query = `/usage?tenant=${tenant}&from=${today()}&to=${today()}&group=user`;
    // The streamed run's end is sent after its stream closed: poll until it is written.
    await expect
      .poll(async () => {
        const { rows } = await parseJson(await admin.request('GET', query), ExportSchema);
        return rows.find((row) => row.user === alice.user)?.runs_completed;
      })
      .toBe(2);
    const res = await admin.request('GET', query);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const { rows } = await parseJson(res, ExportSchema);
    const mine = rows.find((row) => row.user === alice.user);
    expect(mine).toMatchObject({
      tenant,
      day: today(),
      requests: 8,
      refused: { input: 1, not_found: 1 },
      threads_created: 2,
      runs_started: 2,
      runs_completed: 2,
      runs_cancelled: 0,
      events: events * 2,
      upstream_calls: upstream,
      upload_bytes: 5,
    });
    expect(mine?.run_seconds).toBeGreaterThan(0);
    // Bob's one thread is his own row, and the tenant's total is both users'.
    expect(rows.find((row) => row.user === bob.user)).toMatchObject({ requests: 1, threads_created: 1 });
    const totals = await parseJson(
      await admin.request('GET', `/usage?tenant=${tenant}&from=${today()}&to=${today()}`),
      ExportSchema,
    );
    expect(totals.rows).toEqual([expect.objectContaining({ tenant, requests: 9, threads_created: 3 })]);
    expect(totals.rows[0]).not.toHaveProperty('user');

    // NDJSON: the same rows, one a line.
    const ndjson = await admin.request('GET', `${query}&format=ndjson`);
    expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await ndjson.text()).trimEnd().split('\n');
    expect(lines.map((line) => parseText(line, RecordSchema))).toEqual(rows);

    // CSV: a header, then the same numbers (refused as a total and by reason).
    const csv = await admin.request('GET', `${query}&format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const [header = '', ...records] = (await csv.text()).trimEnd().split('\r\n');
    const columns = header.split(',');
    const aliceLine = records.find((line) => line.includes(alice.user))?.split(',') ?? [];
    const cell = (name: string) => aliceLine[columns.indexOf(name)];
    expect(columns.slice(0, 5)).toEqual(['tenant', 'day', 'user', 'requests', 'refused']);
    expect([cell('requests'), cell('refused'), cell('refused_input'), cell('threads_created')]).toEqual([
      '8',
      '2',
      '1',
      '2',
    ]);
    expect(cell('events')).toBe(String(events * 2));
  });

  it('keeps a user id a spreadsheet would run as a formula as text in CSV', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const mallory = await gw.caller('acme', '=HYPERLINK("x",1)');
    await usage(mallory);
    const csv = await (
      await admin.request('GET', `/usage?tenant=${gw.ids.acme}&group=user&format=csv`)
    ).text();
    expect(csv).toContain(`"'=HYPERLINK(""x"",1)"`);
    expect(csv).not.toMatch(/(^|,)=HYPERLINK/m);
  });

  it('meters every request of a burst exactly, though the isolate sends their counts together', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const [alice, bob] = [await gw.caller('acme'), await gw.caller('acme')];
    const thread = await newThread(alice);
    const reads = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 4 === 0 ? bob.request('GET', '/v1/usage') : alice.request('GET', `/v1/threads/${thread}`),
      ),
    );
    expect(reads.every((r) => r.status === 200)).toBe(true);
    const query = `/usage?tenant=${gw.ids.acme}&from=${today()}&to=${today()}&group=user`;
    const { rows } = await parseJson(await admin.request('GET', query), ExportSchema);
    const of = (user: string) => rows.find((row) => row.user === user);
    expect(of(alice.user)).toMatchObject({ requests: 31, threads_created: 1 });
    expect(of(bob.user)).toMatchObject({ requests: 10, upstream_calls: 0 });
  });

  it('refuses a range that is backwards, too long or not dates, and an unknown parameter', async () => {
    const admin = operator(testGateway().overrides);
    await expectError(
      await admin.request('GET', '/usage?from=2026-02-01&to=2026-01-01'),
      400,
      'VALIDATION_ERROR',
      'from',
    );
    await expectError(
      await admin.request('GET', '/usage?from=2024-01-01&to=2026-01-01'),
      400,
      'VALIDATION_ERROR',
      'from',
    );
    await expectError(await admin.request('GET', '/usage?from=2026-02-30'), 400, 'VALIDATION_ERROR', 'from');
    // Date-shaped but no date: refused by the schema with the parameter named, not by the
    // RangeError safety net (a generic 400 without `field`, probe C2).
    for (const [name, value] of [
      ['from', '2026-13-01'],
      ['from', '2026-12-32'],
      ['from', '2026-00-10'],
      ['from', '2026-1-01'],
      ['to', '2026-12-99'],
      ['to', '2026-13-01'],
    ]) {
      const body = await expectError(
        await admin.request('GET', `/usage?${name}=${value}`),
        400,
        'VALIDATION_ERROR',
        name,
      );
      expect(body.detail, `${name}=${value}`).toBe(`${name}: must be a date, YYYY-MM-DD`);
    }
    await expectError(await admin.request('GET', '/usage?format=xml'), 400, 'VALIDATION_ERROR', 'format');
    await expectError(await admin.request('GET', '/usage?colour=red'), 400, 'VALIDATION_ERROR', 'colour');
  });

  it('counts a blocked user’s refusals as refused.blocked, and nothing else they did not do', async () => {
    const gw = testGateway();
    const admin = operator(gw.overrides);
    const tenant = gw.ids.acme ?? '';
    const eve = await gw.caller('acme', `eve-${unique()}`);
    expect((await admin.request('POST', `/tenants/${tenant}/users/${eve.user}/block`)).status).toBe(200);
    await expectError(await eve.request('GET', '/v1/threads'), 403, 'USER_BLOCKED');
    const { rows } = await parseJson(
      await admin.request('GET', `/usage?tenant=${tenant}&group=user`),
      ExportSchema,
    );
    expect(rows.find((row) => row.user === eve.user)).toMatchObject({
      requests: 1,
      refused: { blocked: 1 },
      threads_created: 0,
      upstream_calls: 0,
    });
  });

  it('exports every reason admission refuses for: refused.quota_files in JSON and its CSV column', async () => {
    const limits = { ...TENANTS.acme.limits, files_per_user: 1 };
    const gw = testGateway({ tenants: { acme: { ...TENANTS.acme, limits } } });
    const admin = operator(gw.overrides);
    const tenant = gw.ids.acme ?? '';
    const alice = await gw.caller('acme');
    await newFile(alice, textFile('one'));
    const form = new FormData();
    form.append('file', textFile('two'));
    await expectError(await alice.request('POST', '/v1/files', { body: form }), 429, 'QUOTA_EXCEEDED');
    const query = `/usage?tenant=${tenant}&group=user`;
    const { rows } = await parseJson(await admin.request('GET', query), ExportSchema);
    expect(rows.find((row) => row.user === alice.user)?.refused).toEqual({ quota_files: 1 });
    const [header = '', ...records] = (await (await admin.request('GET', `${query}&format=csv`)).text())
      .trimEnd()
      .split('\r\n');
    const columns = header.split(',');
    // Every reason has its column, and the refusal is in this one.
    for (const reason of DENY_REASONS) expect(columns).toContain(`refused_${reason}`);
    const line = records.find((record) => record.includes(alice.user))?.split(',') ?? [];
    expect(line[columns.indexOf('refused_quota_files')]).toBe('1');
  });
});
