import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bearer, loginAndGetProjectToken } from '../helpers/emulator';
import { testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';

/**
 * Upload file names (issue 12, item 6): what a listing, a download dialog or a log
 * shows must be the name the user sees, so the Unicode categories that are invisible or
 * rearrange text are dropped: Cc (C0 and C1 controls), Cf (format: bidi overrides and
 * isolates, zero-width characters, the BOM), Zl and Zp (line and paragraph separators).
 */
const CASES: [string, string][] = [
  // U+202E RIGHT-TO-LEFT OVERRIDE: shown as "invoiceexe.pdf".
  ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
  // C1 controls (U+0085 NEL, U+009B CSI) and DEL.
  ['re\u0085port\u009b\u007f.txt', 'report.txt'],
  // U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR.
  ['two\u2028lines\u2029.txt', 'twolines.txt'],
  // Bidi isolates and marks, zero-width space/joiner, word joiner, BOM, soft hyphen.
  ['\u2066a\u2069\u200Eb\u200Fc\u200Bd\u200De\u2060f\uFEFFg\u00ADh.txt', 'abcdefgh.txt'],
  // Everything visible stays: letters, accents, CJK, emoji, spaces between words.
  ['Rechnung März 報告 📄.txt', 'Rechnung März 報告 📄.txt'],
];

describe('upload file names', () => {
  it.each(CASES)('%j is stored and sent upstream as %j', async (given, expected) => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const data = new FormData();
    data.append('file', new File(['x'], given, { type: 'text/plain' }));
    const res = await alice.request('POST', '/v1/files', { body: data });
    expect(res.status).toBe(201);
    const file = await parseJson(res, z.object({ file_id: z.string(), filename: z.string() }));
    expect(file.filename).toBe(expected);
    const listed = await parseJson(
      await alice.request('GET', '/v1/files'),
      z.object({ files: z.array(z.object({ filename: z.string() })) }),
    );
    expect(listed.files.map((f) => f.filename)).toEqual([expected]);
    // The upstream got the cleaned name too, never the original.
    const { projectToken } = await loginAndGetProjectToken(gw.emulator.baseUrl, 'proj_acme');
    const upstream = await fetch(gw.emulator.url('/files/'), { headers: bearer(projectToken) });
    expect(JSON.stringify(await upstream.json())).toContain(JSON.stringify(expected).slice(1, -1));
    expect(file.filename).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  });

  it('falls back to "upload" when nothing visible is left', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const data = new FormData();
    data.append('file', new File(['x'], '\u202E\u200B\u2028', { type: 'text/plain' }));
    const res = await alice.request('POST', '/v1/files', { body: data });
    expect(res.status).toBe(201);
    expect((await parseJson(res, z.object({ filename: z.string() }))).filename).toBe('upload');
  });
});
