import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newFile, textFile, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** `files_per_user` of the tenant these tests configure. */
const PER_USER = 2;

const withFileQuota = () =>
  testGateway({
    tenants: { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, files_per_user: PER_USER } } },
  });

const upload = (caller: Caller, name = 'x.txt') =>
  caller.edge.v1.files.$post({ form: { file: textFile('some text', name) } });

describe('files_per_user', () => {
  it('refuses the upload after files_per_user with 429 QUOTA_EXCEEDED, before the upstream', async () => {
    const gw = withFileQuota();
    const alice = await gw.caller('acme');
    for (let i = 0; i < PER_USER; i += 1) await newFile(alice);
    const stored = (await gw.emulator.storedFiles(TENANTS.acme.project_id)).length;
    const watch = await watchUpstream(gw.emulator);
    const refused = await upload(alice, 'one-too-many.txt');
    expect(refused.headers.get('retry-after')).toBe('60');
    await expectError(refused, 429, 'QUOTA_EXCEEDED');
    await watch.expectNone();
    expect(await gw.emulator.storedFiles(TENANTS.acme.project_id)).toHaveLength(stored);
    expect((await usage(alice)).files).toMatchObject({ yours: PER_USER, remaining: 0 });
  });

  it("counts per user: another user's files take none of the caller's slots", async () => {
    const gw = withFileQuota();
    const [alice, bob] = await Promise.all([gw.caller('acme'), gw.caller('acme')]);
    for (let i = 0; i < PER_USER; i += 1) await newFile(alice);
    expect((await usage(bob)).files).toMatchObject({ yours: 0, remaining: PER_USER });
    expect((await upload(bob)).status).toBe(201);
  });

  it('frees a slot when a file is deleted', async () => {
    const gw = withFileQuota();
    const alice = await gw.caller('acme');
    const [first] = [await newFile(alice), await newFile(alice)];
    await expectError(await upload(alice), 429, 'QUOTA_EXCEEDED');
    const deleted = await alice.edge.v1.files[':file_id'].$delete({ param: { file_id: first } });
    expect(deleted.status).toBe(204);
    expect((await usage(alice)).files).toMatchObject({ yours: PER_USER - 1, remaining: 1 });
    expect((await upload(alice)).status).toBe(201);
  });

  it('lets exactly files_per_user of 8 concurrent uploads through', async () => {
    const gw = withFileQuota();
    const alice = await gw.caller('acme');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(alice, `f${i}.txt`)));
    const statuses: number[] = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(PER_USER);
    for (const res of results.filter((r) => r.status !== 201)) await expectError(res, 429, 'QUOTA_EXCEEDED');
    // Only the admitted ones reached the upstream.
    expect(await gw.emulator.requestCount('POST /files/')).toBe(PER_USER);
    expect(await gw.emulator.storedFiles(TENANTS.acme.project_id)).toHaveLength(PER_USER);
    expect((await usage(alice)).files).toMatchObject({ yours: PER_USER, remaining: 0 });
  });

  it('gives the slot back when the upstream refuses the upload', async () => {
    const gw = withFileQuota();
    const alice = await gw.caller('acme');
    await newFile(alice);
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/files/', status: 500, times: 1 }],
    });
    await expectError(await upload(alice), 502, 'UPSTREAM_BAD_RESPONSE');
    expect((await usage(alice)).files).toMatchObject({ yours: 1, remaining: PER_USER - 1 });
    expect((await upload(alice)).status).toBe(201);
  });

  it('takes no slot for an upload refused for its body', async () => {
    const gw = withFileQuota();
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (let i = 0; i < PER_USER + 1; i += 1) {
      const wrongType = await alice.edge.v1.files.$post({
        form: { file: textFile('GIF89a', 'x.gif', 'image/gif') },
      });
      await expectError(wrongType, 400, 'VALIDATION_ERROR', 'file');
    }
    await watch.expectNone();
    expect((await usage(alice)).files).toMatchObject({ yours: 0, remaining: PER_USER });
  });

  it('shows files_per_user (default 100) in the usage limits', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const report = await usage(alice);
    expect(report.limits.files_per_user).toBe(100);
    expect(report.files).toMatchObject({ yours: 0, remaining: 100 });
  });
});
