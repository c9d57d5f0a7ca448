import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';

/** acme's `files.max_bytes` in the test fixtures. */
const ACME_MAX_BYTES = 65536;

interface FileBody {
  file_id: string;
  filename: string;
  size: number;
  mime_type: string;
  uploaded_at: string;
}

function form(content: string | Uint8Array, name: string, type: string): FormData {
  const data = new FormData();
  data.append('file', new File([content], name, { type }));
  return data;
}

async function upload(caller: Caller, data: FormData): Promise<Response> {
  return caller.request('POST', '/v1/files', { body: data });
}

const uploadsSeen = async (gw: ReturnType<typeof testGateway>) =>
  (await gw.emulator.stats()).requests['POST /files/'] ?? 0;

describe('files', () => {
  const gw = testGateway();

  it('uploads an allowed type, lists it and deletes it', async () => {
    const alice = await gw.caller('acme');
    const res = await upload(alice, form('hello, file', 'notes.txt', 'text/plain'));
    expect(res.status).toBe(201);
    expectAuthenticatedHeaders(res);
    const text = await res.text();
    expectNoSecrets(text);
    const file = JSON.parse(text) as FileBody;
    expect(Object.keys(file).sort()).toEqual(['file_id', 'filename', 'mime_type', 'size', 'uploaded_at']);
    expect(file).toMatchObject({ filename: 'notes.txt', size: 11, mime_type: 'text/plain' });

    const png = await upload(alice, form(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), 'a.png', 'image/png'));
    expect(png.status).toBe(201);
    const pngFile = (await png.json()) as FileBody;

    const list = await alice.request('GET', '/v1/files');
    expect(list.status).toBe(200);
    expectAuthenticatedHeaders(list);
    const listed = (await list.json()) as { files: FileBody[] };
    expect(listed.files.map((f) => f.file_id).sort()).toEqual([file.file_id, pngFile.file_id].sort());
    expect(listed.files.find((f) => f.file_id === file.file_id)).toEqual(file);

    const deleted = await alice.request('DELETE', `/v1/files/${file.file_id}`);
    expect(deleted.status).toBe(204);
    expectAuthenticatedHeaders(deleted);
    const after = (await (await alice.request('GET', '/v1/files')).json()) as { files: FileBody[] };
    expect(after.files.map((f) => f.file_id)).toEqual([pngFile.file_id]);

    const watch = await watchUpstream(gw.emulator);
    await expectError(await alice.request('DELETE', `/v1/files/${file.file_id}`), 404, 'NOT_FOUND');
    await watch.expectNone();
  });

  it('strips paths and control characters from the file name', async () => {
    const bob = await gw.caller('acme');
    const res = await upload(bob, form('x', '../../etc/passwd.txt', 'text/plain'));
    expect(res.status).toBe(201);
    expect(((await res.json()) as FileBody).filename).toBe('passwd.txt');
    const odd = await upload(bob, form('x', 'a\\b\u0007c"d.txt', 'text/plain'));
    expect(odd.status).toBe(201);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting control characters are gone
    expect(((await odd.json()) as FileBody).filename).not.toMatch(/[\\/"\u0000-\u001f]/);
  });

  it('refuses a type the tenant does not allow, before the upstream', async () => {
    const carol = await gw.caller('acme');
    const before = await uploadsSeen(gw);
    const watch = await watchUpstream(gw.emulator);
    for (const type of ['image/gif', 'application/x-msdownload', 'text/html']) {
      const res = await upload(carol, form('GIF89a', 'x.bin', type));
      await expectError(res, 400, 'VALIDATION_ERROR', 'file');
    }
    await watch.expectNone();
    expect(await uploadsSeen(gw)).toBe(before);
  });

  it("refuses a file over the tenant's max_bytes with 413 and no upstream call", async () => {
    const dave = await gw.caller('acme');
    const before = await uploadsSeen(gw);
    const watch = await watchUpstream(gw.emulator);
    // One byte over: the part itself is checked.
    const justOver = await upload(dave, form(new Uint8Array(ACME_MAX_BYTES + 1), 'big.txt', 'text/plain'));
    await expectError(justOver, 413, 'PAYLOAD_TOO_LARGE', 'file');
    // Far over: the streaming body limit stops it.
    const farOver = await upload(dave, form(new Uint8Array(ACME_MAX_BYTES * 4), 'huge.txt', 'text/plain'));
    await expectError(farOver, 413, 'PAYLOAD_TOO_LARGE');
    await watch.expectNone();
    expect(await uploadsSeen(gw)).toBe(before);

    // Exactly at the limit is fine.
    const atLimit = await upload(dave, form(new Uint8Array(ACME_MAX_BYTES), 'ok.txt', 'text/plain'));
    expect(atLimit.status).toBe(201);
    expect(((await atLimit.json()) as FileBody).size).toBe(ACME_MAX_BYTES);
  });

  it('refuses a body without a file part and ids that are not ids', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const noFile = new FormData();
    noFile.append('file', 'just a string');
    await expectError(await upload(erin, noFile), 400, 'VALIDATION_ERROR', 'file');
    for (const id of ['..%2f', '%0d%0a', 'x'.repeat(200), 'file%20id']) {
      await expectError(await erin.request('DELETE', `/v1/files/${id}`), 400, 'VALIDATION_ERROR', 'file_id');
    }
    await expectError(await erin.request('DELETE', '/v1/files/file_404'), 404, 'NOT_FOUND');
    await watch.expectNone();
  });
});
