import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TENANTS } from '../fixtures/tenants';
import {
  expectAuthenticatedHeaders,
  expectError,
  expectNoSecrets,
  watchUpstream,
} from '../helpers/assertions';
import { newFile, textFile, usage } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseText } from '../helpers/json';

/** acme's `files.max_bytes` in the test fixtures. */
const ACME_MAX_BYTES = 65536;
const PROJECT = TENANTS.acme.project_id;

const FileBodySchema = z.object({ file_id: z.string(), filename: z.string(), size: z.number() });

interface Multipart {
  bytes: Uint8Array;
  contentType: string;
}

/** `file` as the `file` part of a multipart body, serialized the way the runtime's FormData is. */
async function multipart(file: File): Promise<Multipart> {
  const form = new FormData();
  form.append('file', file);
  const serialized = new Response(form);
  const contentType = serialized.headers.get('content-type') ?? '';
  return { bytes: new Uint8Array(await serialized.arrayBuffer()), contentType };
}

/** A hand-made multipart body: the file part, its content, then `tail` (the closing boundary, or not). */
function rawBody(boundary: string, filename: string, content: string, tail: string): Multipart {
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\n`;
  return {
    bytes: new TextEncoder().encode(`${head}${content}${tail}`),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** The body with its `Content-Length`, the way browsers and curl send an upload. */
const sendDeclared = (caller: Caller, body: Multipart) =>
  caller.request('POST', '/v1/files', {
    body: body.bytes,
    headers: { 'content-type': body.contentType, 'content-length': String(body.bytes.length) },
  });

/** The body as a stream of 1 KiB chunks and no declared length (chunked). */
const sendStreamed = (caller: Caller, body: Multipart) => {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= body.bytes.length) controller.close();
      else {
        controller.enqueue(body.bytes.slice(at, at + 1024));
        at += 1024;
      }
    },
  });
  return caller.request('POST', '/v1/files', { body: stream, headers: { 'content-type': body.contentType } });
};

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

  it("refuses a declared length over the tenant's max_bytes before reading on: 413, no upstream call, nothing held", async () => {
    const dave = await gw.caller('acme');
    const remaining = (await usage(dave)).files.remaining;
    const watch = await watchUpstream(gw.emulator);
    // One byte over, as a browser sends it (with Content-Length): told by the length and the part's head.
    const justOver = await multipart(textFile(new Uint8Array(ACME_MAX_BYTES + 1), 'big.txt'));
    await expectError(await sendDeclared(dave, justOver), 413, 'PAYLOAD_TOO_LARGE', 'file');
    // Far over: refused on the length alone, before a byte is read.
    const farOver = await multipart(textFile(new Uint8Array(ACME_MAX_BYTES * 4), 'huge.txt'));
    await expectError(await sendDeclared(dave, farOver), 413, 'PAYLOAD_TOO_LARGE');
    await watch.expectNone();
    expect((await usage(dave)).files).toMatchObject({ yours: 0, remaining });
    expect(await gw.emulator.storedFiles(PROJECT)).not.toContainEqual(
      expect.objectContaining({ filename: 'big.txt' }),
    );
  });

  it('refuses a file found over max_bytes as it streams (no declared length): 413, the upstream stored nothing, its slot is free', async () => {
    const dave = await gw.caller('acme');
    const stored = (await gw.emulator.storedFiles(PROJECT)).length;
    const remaining = (await usage(dave)).files.remaining;
    const over = await multipart(textFile(new Uint8Array(ACME_MAX_BYTES + 1), 'big.txt'));
    await expectError(await sendStreamed(dave, over), 413, 'PAYLOAD_TOO_LARGE', 'file');
    // The upstream was sent a body that never ended: it stored no file.
    expect(await gw.emulator.storedFiles(PROJECT)).toHaveLength(stored);
    expect((await usage(dave)).files).toMatchObject({ yours: 0, remaining });
    expect((await (await dave.edge.v1.files.$get({ query: {} })).json()).files).toEqual([]);
  });

  it("accepts a file of exactly the tenant's max_bytes, declared or streamed, and stores it whole upstream", async () => {
    const dave = await gw.caller('acme');
    const body = await multipart(textFile(new Uint8Array(ACME_MAX_BYTES).fill(0x61), 'ok.txt'));
    for (const send of [sendDeclared, sendStreamed]) {
      const res = await send(dave, body);
      expect(res.status).toBe(201);
      const file = parseText(await res.text(), FileBodySchema);
      expect(file.size).toBe(ACME_MAX_BYTES);
      const upstream = (await gw.emulator.storedFiles(PROJECT)).find((f) => f.file_id === file.file_id);
      expect(upstream).toMatchObject({ filename: 'ok.txt', size: ACME_MAX_BYTES });
    }
  });

  it('passes content that looks like multipart framing through byte for byte', async () => {
    const erin = await gw.caller('acme');
    const boundary = 'caller-boundary';
    // Everything but the delimiter itself (CRLF, --, the boundary), which no content may hold.
    const content = `x--${boundary}\r\n\r\n--${boundary.slice(0, -1)}\r\n--\r\r\n`.repeat(50);
    const body = rawBody(boundary, 'frames.txt', content, `\r\n--${boundary}--\r\n`);
    const res = await sendStreamed(erin, body);
    expect(res.status).toBe(201);
    const file = parseText(await res.text(), FileBodySchema);
    expect(file.size).toBe(new TextEncoder().encode(content).length);
    const upstream = (await gw.emulator.storedFiles(PROJECT)).find((f) => f.file_id === file.file_id);
    expect(upstream?.size).toBe(file.size);
  });

  it('refuses a body cut off before its closing boundary: 400, the upstream stored nothing, its slot is free', async () => {
    const erin = await gw.caller('acme');
    const stored = (await gw.emulator.storedFiles(PROJECT)).length;
    const remaining = (await usage(erin)).files.remaining;
    const cut = rawBody('b0undary', 'cut.txt', 'the first half of a file', '');
    await expectError(await sendStreamed(erin, cut), 400, 'BAD_REQUEST');
    expect(await gw.emulator.storedFiles(PROJECT)).toHaveLength(stored);
    expect((await usage(erin)).files).toMatchObject({ yours: 0, remaining });
  });

  it('refuses a field besides the file: before the upstream when it comes first, and unstored when it follows', async () => {
    const erin = await gw.caller('acme');
    const stored = (await gw.emulator.storedFiles(PROJECT)).length;
    const remaining = (await usage(erin)).files.remaining;
    const watch = await watchUpstream(gw.emulator);
    const first = new FormData();
    first.append('purpose', 'retrieval');
    first.append('file', textFile('x', 'a.txt'));
    await expectError(
      await erin.request('POST', '/v1/files', { body: first }),
      400,
      'VALIDATION_ERROR',
      'purpose',
    );
    await watch.expectNone();
    const second = `\r\n--b0undary\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nretrieval\r\n--b0undary--\r\n`;
    const after = rawBody('b0undary', 'a.txt', 'x', second);
    await expectError(await sendStreamed(erin, after), 400, 'VALIDATION_ERROR');
    expect(await gw.emulator.storedFiles(PROJECT)).toHaveLength(stored);
    expect((await usage(erin)).files).toMatchObject({ yours: 0, remaining });
  });

  it('refuses a body that is not multipart/form-data with 415, before the upstream', async () => {
    const erin = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    await expectError(
      await erin.request('POST', '/v1/files', { json: { file: 'x' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectError(
      await erin.request('POST', '/v1/files', { body: new URLSearchParams({ file: 'x' }) }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    // Refused on its type alone: a JSON body that never ends is not waited for.
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"file":"'));
      },
    });
    await expectError(
      await erin.request('POST', '/v1/files', {
        body: endless,
        headers: { 'content-type': 'application/json' },
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await watch.expectNone();
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

describe('files: what an upload does when its body or token fails mid-way', () => {
  const gw = testGateway({ bindings: { BODY_TIMEOUT_MS: '300' } });

  it('answers an upload whose body stalls with 408: the upstream stored nothing, its slot is free', async () => {
    const frank = await gw.caller('acme');
    const stored = (await gw.emulator.storedFiles(PROJECT)).length;
    const remaining = (await usage(frank)).files.remaining;
    const head = rawBody('b0undary', 'slow.txt', 'the first bytes, then nothing', '');
    let sent = false;
    const stalled = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(head.bytes);
          return;
        }
        // The rest never comes.
        return new Promise<void>(() => {});
      },
    });
    const res = await frank.request('POST', '/v1/files', {
      body: stalled,
      headers: { 'content-type': head.contentType },
    });
    await expectError(res, 408, 'REQUEST_TIMEOUT');
    expect(await gw.emulator.storedFiles(PROJECT)).toHaveLength(stored);
    expect((await usage(frank)).files).toMatchObject({ yours: 0, remaining });
  });

  it('answers 503 when the upstream refuses the token of a streamed upload (it cannot be sent twice); the next upload goes through', async () => {
    const frank = await gw.caller('acme');
    await newFile(frank);
    const remaining = (await usage(frank)).files.remaining;
    await gw.emulator.revokeTokens();
    const refused = await upload(frank, textFile('after the revocation', 'again.txt'));
    expect(refused.headers.get('retry-after')).toBeTruthy();
    await expectError(refused, 503, 'UPSTREAM_UNAVAILABLE');
    expect((await usage(frank)).files).toMatchObject({ yours: 1, remaining });
    // The token was refreshed for the caller's retry.
    expect((await upload(frank, textFile('after the revocation', 'again.txt'))).status).toBe(201);
  });
});
