import { describe, expect, it } from 'vitest';
import { MaskError, mask, mergePatch, redact, unmask } from '../../src/admin/secrets';
import { csvField, toCsv, toRecords } from '../../src/admin/usage';
import { TenantSchema } from '../../src/tenant';

const HS = `${'h'.repeat(28)}AAAA`;
const HS_NEXT = `${'k'.repeat(28)}BBBB`;
const HOOK = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const stored = TenantSchema.parse({
  project_id: 'p',
  session_secret: HS,
  assistants: ['a'],
  auth: { hs256: [{ kid: 'k1', secret: HS_NEXT }] },
  webhook_secret: HOOK,
});

describe('secrets in the admin API', () => {
  it('shows each secret as **** and its last 4 characters, with its kid', () => {
    const view = JSON.stringify(redact(stored));
    for (const secret of [HS, HS_NEXT, HOOK]) expect(view).not.toContain(secret);
    expect(redact(stored)).toMatchObject({
      session_secret: '****AAAA',
      auth: { hs256: [{ kid: 'k1', secret: '****BBBB' }] },
      webhook_secret: `****${HOOK.slice(-4)}`,
    });
  });

  it('resolves a mask sent back to the stored secret it stands for', () => {
    expect(unmask(redact(stored), stored)).toMatchObject({
      session_secret: HS,
      auth: { hs256: [{ kid: 'k1', secret: HS_NEXT }] },
      webhook_secret: HOOK,
    });
  });

  it('leaves a new secret as it is, for the schema to judge', () => {
    expect(unmask({ session_secret: 'n'.repeat(32) }, stored)).toEqual({ session_secret: 'n'.repeat(32) });
  });

  it('refuses a mask that stands for no stored secret of its kind, naming the field', () => {
    expect(() => unmask({ session_secret: '****ZZZZ' }, stored)).toThrow(MaskError);
    // A webhook secret's tail is no HS256 secret, and nothing is stored for a new tenant.
    expect(() => unmask({ session_secret: mask(HOOK) }, stored)).toThrow(/session_secret/);
    expect(() => unmask({ webhook_secrets: [mask(HOOK), '****none'] }, stored)).toThrow(/webhook_secrets\.1/);
    expect(() => unmask({ session_secret: '****AAAA' }, undefined)).toThrow(MaskError);
  });
});

describe('JSON merge patch (RFC 7396)', () => {
  it('merges objects, removes keys set to null and replaces arrays and values', () => {
    const target = { a: 1, limits: { burst: 2, rpm: 3 }, origins: ['x', 'y'], gone: true };
    expect(mergePatch(target, { limits: { burst: 5 }, origins: ['z'], gone: null, b: 'new' })).toEqual({
      a: 1,
      limits: { burst: 5, rpm: 3 },
      origins: ['z'],
      b: 'new',
    });
    // The examples of RFC 7396, appendix A (a few).
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch(['a', 'b'], { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'foo' }, null)).toBeNull();
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
  });
});

describe('usage export formats', () => {
  it('folds stored rows into one record per day, run time in seconds, refusals by reason', () => {
    const rows = [
      { day: '2026-01-01', user: '', metric: 'requests', n: 3 },
      { day: '2026-01-01', user: '', metric: 'run_ms', n: 1500 },
      { day: '2026-01-01', user: '', metric: 'refused.rate_user', n: 2 },
      { day: '2026-01-01', user: '', metric: 'from.a.newer.version', n: 9 },
    ];
    expect(toRecords('acme', rows, false)).toEqual([
      expect.objectContaining({
        tenant: 'acme',
        day: '2026-01-01',
        requests: 3,
        run_seconds: 1.5,
        refused: { rate_user: 2 },
      }),
    ]);
  });

  it('quotes CSV fields with commas, quotes or line breaks, and defuses formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField('-2')).toBe("'-2");
    expect(csvField(42)).toBe('42');
    const csv = toCsv(
      toRecords('acme', [{ day: '2026-01-01', user: '@me', metric: 'requests', n: 1 }], true),
      true,
    );
    expect(csv.split('\r\n')[1]).toMatch(/^acme,2026-01-01,'@me,1,0,/);
  });
});
