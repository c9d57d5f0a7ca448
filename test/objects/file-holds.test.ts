import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/objects/tenant-state';
import { DEFAULT_LIMITS } from '../../src/tenant';

const limits = { ...DEFAULT_LIMITS, files_per_user: 2 };

function freshTenant() {
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  return { tenant, stub: env.TENANT_STATE.get(env.TENANT_STATE.idFromName(tenant)) };
}

const file = (file_id: string): FileRecord => ({
  file_id,
  filename: `${file_id}.txt`,
  size: 1,
  mime_type: 'text/plain',
  uploaded_at: '2026-01-01T00:00:00.000Z',
});

const holdsLeft = (stub: ReturnType<typeof freshTenant>['stub']) =>
  runInDurableObject(
    stub,
    (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM file_holds').one().n,
  );

describe('TenantState: files_per_user', () => {
  it('counts uploads in flight against the quota, files and holds alike', async () => {
    const { tenant, stub } = freshTenant();
    const upload = { tenant, user: 'u', limits, reserveFile: { ttlMs: 60_000 } };
    const first = await stub.admit(upload);
    const second = await stub.admit(upload);
    if (!first.ok || !first.fileHold || !second.ok || !second.fileHold) throw new Error('no hold');
    // Two in flight: a third is refused, and takes nothing.
    expect(await stub.admit(upload)).toMatchObject({ ok: false, reason: 'quota_files' });
    expect(await holdsLeft(stub)).toBe(2);
    // One becomes a file (it still counts), the other fails and is given back.
    await stub.commitFile('u', first.fileHold, file('file_1'));
    await stub.releaseFile('u', second.fileHold);
    expect(await holdsLeft(stub)).toBe(0);
    const usage = await stub.admit({ tenant, user: 'u', limits, want: 'usage' });
    expect(usage).toMatchObject({ ok: true, usage: { files: 1, files_held: 0 } });
    const third = await stub.admit(upload);
    if (!third.ok || !third.fileHold) throw new Error('no hold');
    await stub.commitFile('u', third.fileHold, file('file_2'));
    expect(await stub.admit(upload)).toMatchObject({ ok: false, reason: 'quota_files' });
    // Another user's quota is their own; deleting a file frees a slot.
    expect(await stub.admit({ ...upload, user: 'v' })).toMatchObject({ ok: true });
    await stub.removeFile('u', 'file_1');
    expect(await stub.admit(upload)).toMatchObject({ ok: true, fileHold: expect.stringMatching(/^fhold_/) });
  });

  it('drops the hold of an upload whose Worker vanished, when it expires', async () => {
    const { tenant, stub } = freshTenant();
    const one = { ...limits, files_per_user: 1 };
    const held = await stub.admit({ tenant, user: 'u', limits: one, reserveFile: { ttlMs: 60_000 } });
    if (!held.ok || !held.fileHold) throw new Error('no hold');
    // Run early, the alarm frees nothing that has not expired.
    await runDurableObjectAlarm(stub);
    expect(await holdsLeft(stub)).toBe(1);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec('UPDATE file_holds SET expires_at = ?', Date.now() - 1);
      return state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(stub);
    expect(await holdsLeft(stub)).toBe(0);
    expect(
      await stub.admit({ tenant, user: 'u', limits: one, reserveFile: { ttlMs: 60_000 } }),
    ).toMatchObject({
      ok: true,
    });
  });

  it('records the file even when its hold expired meanwhile (it exists upstream)', async () => {
    const { tenant, stub } = freshTenant();
    const held = await stub.admit({ tenant, user: 'u', limits, reserveFile: { ttlMs: 60_000 } });
    if (!held.ok || !held.fileHold) throw new Error('no hold');
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec('DELETE FROM file_holds');
    });
    await stub.commitFile('u', held.fileHold, file('file_late'));
    const owns = await stub.admit({ tenant, user: 'u', limits, owns: { kind: 'file', id: 'file_late' } });
    expect(owns.ok).toBe(true);
  });
});
