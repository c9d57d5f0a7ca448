import { describe, expect, it } from 'vitest';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { newFile, textFile } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

/** acme's `files.max_bytes` in the test fixtures. */
const ACME_MAX_BYTES = 65536;

const upload = (caller: Caller, file: File) => caller.edge.v1.files.$post({ form: { file } });

const pngFile = () => textFile(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), 'a.png', 'image/png');

describe('files', () => {
  const gw = testGateway();
  const uploadsSeen = () => gw.emulator.requestCount('POST /files/');

  it('uploads an allowed type: 201 with exactly the public file fields', async () => {
    const alice = await gw.caller('acme');
    const res = await upload(alice, textFile('hello, file', 'notes.txt'));
    expect(res.status).toBe(201);
    expectAuthenticatedHeaders(res);
    expectNoSecrets(await res.clone().text());
    const file = await res.json();
    expect(Object.keys(file).sort()).toEqual(['file_id', 'filename', 'mime_type', 'size', 'uploaded_at']);
    expect(file).toMatchObject({ filename: 'notes.txt', size: 11, mime_type: 'text/plain' });
  });

  it('lists the uploaded files, each the way the upload answered it', async () => {
    const alice = await gw.caller('acme');
    const uploaded = await upload(alice, textFile('hello, file', 'notes.txt'));
    expect(uploaded.status).toBe(201);
    const file = await uploaded.json();
    const png = await newFile(alice, pngFile());
    const list = await alice.edge.v1.files.$get({ query: {} });
    expect(list.status).toBe(200);
    expectAuthenticatedHeaders(list);
    const listed = await list.json();
    expect(listed.files.map((f) => f.file_id).sort()).toEqual([file.file_id, png].sort());
    expect(listed.files.find((f) => f.file_id === file.file_id)).toEqual(file);
  });

  it('deletes a file with a 204, and it leaves the list', async () => {
    const alice = await gw.caller('acme');
    const file_id = await newFile(alice);
    const png = await newFile(alice, pngFile());
    const deleted = await alice.edge.v1.files[':file_id'].$delete({ param: { file_id } });
    expect(deleted.status).toBe(204);
    expectAuthenticatedHeaders(deleted);
    const after = await (await alice.edge.v1.files.$get({ query: {} })).json();
    expect(after.files.map((f) => f.file_id)).toEqual([png]);
  });

  it('answers a second delete of a file with 404 and no upstream call', async () => {
    const alice = await gw.caller('acme');
    const file_id = await newFile(alice);
    const remove = () => alice.edge.v1.files[':file_id'].$delete({ param: { file_id } });
    expect((await remove()).status).toBe(204);
    const watch = await watchUpstream(gw.emulator);
    await expectError(await remove(), 404, 'NOT_FOUND');
    await watch.expectNone();
  });

  it('strips the path from the file name', async () => {
    const bob = await gw.caller('acme');
    const res = await upload(bob, textFile('x', '../../etc/passwd.txt'));
    expect(res.status).toBe(201);
    expect((await res.json()).filename).toBe('passwd.txt');
  });

  it('strips backslashes, quotes and control characters from the file name', async () => {
    const bob = await gw.caller('acme');
    const odd = await upload(bob, textFile('x', 'a\\b\u0007c"d.txt'));
    expect(odd.status).toBe(201);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting control characters are gone
    expect((await odd.json()).filename).not.toMatch(/[\\/"\u0000-\u001f]/);
  });

  it('refuses a type the tenant does not allow, before the upstream', async () => {
    const carol = await gw.caller('acme');
    const before = await uploadsSeen();
    const watch = await watchUpstream(gw.emulator);
    for (const type of ['image/gif', 'application/x-msdownload', 'text/html']) {
      const res = await upload(carol, textFile('GIF89a', 'x.bin', type));
      await expectError(res, 400, 'VALIDATION_ERROR', 'file');
    }
    await watch.expectNone();
    expect(await uploadsSeen()).toBe(before);
  });

  it("refuses a file over the tenant's max_bytes with 413 and no upstream call", async () => {
    const dave = await gw.caller('acme');
    const before = await uploadsSeen();
    const watch = await watchUpstream(gw.emulator);
    // One byte over: the part itself is checked.
    const justOver = await upload(dave, textFile(new Uint8Array(ACME_MAX_BYTES + 1), 'big.txt'));
    await expectError(justOver, 413, 'PAYLOAD_TOO_LARGE', 'file');
    // Far over: the streaming body limit stops it.
    const farOver = await upload(dave, textFile(new Uint8Array(ACME_MAX_BYTES * 4), 'huge.txt'));
    await expectError(farOver, 413, 'PAYLOAD_TOO_LARGE');
    await watch.expectNone();
    expect(await uploadsSeen()).toBe(before);
  });

  it("accepts a file of exactly the tenant's max_bytes", async () => {
    const dave = await gw.caller('acme');
    const atLimit = await upload(dave, textFile(new Uint8Array(ACME_MAX_BYTES), 'ok.txt'));
    expect(atLimit.status).toBe(201);
    expect((await atLimit.json()).size).toBe(ACME_MAX_BYTES);
  });

  it('refuses a body without a file part, before the upstream', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    const noFile = new FormData();
    noFile.append('file', 'just a string');
    await expectError(
      await erin.request('POST', '/v1/files', { body: noFile }),
      400,
      'VALIDATION_ERROR',
      'file',
    );
    await watch.expectNone();
  });

  it('refuses file ids that are not ids, and answers an unknown one with 404, before the upstream', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    for (const id of ['..%2f', '%0d%0a', 'x'.repeat(200), 'file%20id']) {
      await expectError(await erin.request('DELETE', `/v1/files/${id}`), 400, 'VALIDATION_ERROR', 'file_id');
    }
    await expectError(await erin.request('DELETE', '/v1/files/file_404'), 404, 'NOT_FOUND');
    await watch.expectNone();
  });
});
