import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors';
import { formBoundary, parseHeaderValue } from '../../src/multipart/headers';
import { type FilePart, MAX_HEAD_BYTES, readFilePart } from '../../src/multipart/read';
import { multipartStream } from '../../src/multipart/write';

const BOUNDARY = 'x-boundary-42';
const enc = new TextEncoder();

interface BodyOptions {
  boundary?: string;
  preamble?: string;
  /** The file part's headers (default: name="file", filename="a.txt", text/plain). */
  headers?: string[];
  /** What follows the file's content (default: the closing boundary and a CRLF). */
  tail?: string;
}

/** A multipart body with one file part whose content is `content`. */
function body(content: Uint8Array, options: BodyOptions = {}): Uint8Array {
  const boundary = options.boundary ?? BOUNDARY;
  const headers = options.headers ?? [
    'Content-Disposition: form-data; name="file"; filename="a.txt"',
    'Content-Type: text/plain',
  ];
  const head = `${options.preamble ?? ''}--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`;
  const tail = options.tail ?? `\r\n--${boundary}--\r\n`;
  return join([enc.encode(head), content, enc.encode(tail)]);
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `bytes` as a stream of chunks of `size` bytes (the way a socket may split it). */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) controller.close();
      else {
        controller.enqueue(bytes.slice(at, at + size));
        at += size;
      }
    },
  });
}

const request = (
  bytes: Uint8Array,
  size = bytes.length || 1,
  contentType = `multipart/form-data; boundary=${BOUNDARY}`,
) => ({
  body: chunked(bytes, size),
  contentType,
  contentLength: bytes.length,
});

/** A macrotask: whatever a stream would settle in microtasks has settled by then. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Reads the part's content to its end. On a failure (onError) it checks the stream did not
 * close meanwhile (a receiver must never take a cut file for whole), then cancels it, as
 * the upload's fetch abort does.
 */
async function drain(part: FilePart, maxBytes = 1 << 20) {
  let failure: unknown;
  let failed = () => {};
  const failedNow = new Promise<void>((resolve) => {
    failed = resolve;
  });
  const content = part.content(maxBytes, (error) => {
    failure = error;
    failed();
  });
  const reader = content.stream.getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const read = reader.read();
    const first = await Promise.race([read, failedNow.then(() => 'failed' as const)]);
    if (first === 'failed') {
      const state = await Promise.race([
        read.then(() => 'settled' as const),
        tick().then(() => 'pending' as const),
      ]);
      await reader.cancel();
      return { bytes: join(chunks), closed: false, failure, pendingAfterFailure: state === 'pending' };
    }
    if (first.done) return { bytes: join(chunks), closed: true, failure, size: content.size() };
    chunks.push(first.value);
  }
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe('multipart reader: the file part streams through byte for byte', () => {
  const tricky = [
    enc.encode('plain text'),
    new Uint8Array(0),
    // The delimiter's prefixes, without their end, inside the content.
    enc.encode(`a\r\n--${BOUNDARY.slice(0, -1)}b\r\n-\r\n--\r\r\n--${BOUNDARY.slice(0, -1)}`),
    enc.encode(`--${BOUNDARY}\r\n`),
    new Uint8Array(300).fill(0x0d),
    Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256),
  ];

  for (const [i, content] of tricky.entries()) {
    it(`content ${i} (${content.length} bytes), in chunks of 1-3, 7, 16-18 (around the delimiter's length), 64 bytes and whole`, async () => {
      const bytes = body(content);
      for (const size of [1, 2, 3, 7, 16, 17, 18, 64, bytes.length]) {
        const part = await readFilePart(request(bytes, size), 'file');
        expect(part).toMatchObject({ filename: 'a.txt', contentType: 'text/plain' });
        const read = await drain(part);
        expect(read.closed).toBe(true);
        expect(read.bytes).toEqual(content);
        expect(read.size).toBe(content.length);
      }
    });
  }

  it('skips a preamble and reads a body without an epilogue', async () => {
    const content = enc.encode('hello');
    const bytes = body(content, { preamble: 'ignored\r\n', tail: `\r\n--${BOUNDARY}--` });
    const read = await drain(await readFilePart(request(bytes, 4), 'file'));
    expect(read).toMatchObject({ closed: true, bytes: content });
  });

  it('reads a quoted boundary and a filename with escaped quotes', async () => {
    const boundary = 'quoted boundary';
    const bytes = body(enc.encode('x'), {
      boundary,
      headers: ['content-disposition: form-data; name="file"; filename="say \\"hi\\".txt"'],
    });
    const part = await readFilePart(request(bytes, 5, `multipart/form-data; boundary="${boundary}"`), 'file');
    expect(part).toMatchObject({ filename: 'say "hi".txt', contentType: '' });
    expect((await drain(part)).bytes).toEqual(enc.encode('x'));
  });

  it('says how much room a declared length leaves for the content', async () => {
    const bytes = body(enc.encode('12345'));
    const part = await readFilePart(request(bytes), 'file');
    // The content plus the CRLF epilogue: the closing boundary is taken off, the epilogue cannot be.
    expect(part.room).toBe(5 + 2);
    await part.cancel();
  });
});

describe('multipart reader: what it refuses', () => {
  it('stops at maxBytes: 413, and the content never closes', async () => {
    const exact = await drain(await readFilePart(request(body(new Uint8Array(100)), 7), 'file'), 100);
    expect(exact).toMatchObject({ closed: true, size: 100 });
    const over = await drain(await readFilePart(request(body(new Uint8Array(101)), 7), 'file'), 100);
    expect(over.closed).toBe(false);
    expect(over.pendingAfterFailure).toBe(true);
    expect(over.failure).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE', field: 'file' });
    expect(over.bytes.length).toBeLessThanOrEqual(100);
  });

  it('a body cut off before its closing boundary: 400, and the content never closes', async () => {
    const cut = body(enc.encode('the start of a file'), { tail: '' });
    const read = await drain(await readFilePart(request(cut, 3), 'file'));
    expect(read).toMatchObject({ closed: false, pendingAfterFailure: true });
    expect(read.failure).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('a second part after the file: 400, and the content never closes', async () => {
    const tail = `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`;
    const read = await drain(await readFilePart(request(body(enc.encode('file'), { tail }), 2), 'file'));
    expect(read).toMatchObject({ closed: false, pendingAfterFailure: true });
    expect(read.failure).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
  });

  it('another media type is 415, a multipart one without a valid boundary 400', async () => {
    const bytes = body(enc.encode('x'));
    for (const type of ['application/json', 'application/x-www-form-urlencoded', 'text/plain']) {
      expect(await refusal(readFilePart(request(bytes, 8, type), 'file'))).toMatchObject({ status: 415 });
    }
    const noBoundary = await refusal(
      readFilePart({ ...request(bytes), contentType: 'multipart/form-data' }, 'file'),
    );
    expect(noBoundary).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    const bad = await refusal(
      readFilePart(request(bytes, 8, 'multipart/form-data; boundary=a\u0007b'), 'file'),
    );
    expect(bad).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    expect(await refusal(readFilePart({ ...request(bytes), contentType: undefined }, 'file'))).toMatchObject({
      status: 415,
    });
  });

  it('a first part that is not the file names it; a file part without filename is not a file', async () => {
    const other = body(enc.encode('x'), { headers: ['Content-Disposition: form-data; name="purpose"'] });
    expect(await refusal(readFilePart(request(other), 'file'))).toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
      field: 'purpose',
    });
    const odd = body(enc.encode('x'), { headers: ['Content-Disposition: form-data; name="<script>"'] });
    const oddError = await refusal(readFilePart(request(odd), 'file'));
    expect(oddError).toMatchObject({ status: 400, code: 'VALIDATION_ERROR', field: undefined });
    expect(oddError.detail).not.toContain('<script>');
    const text = body(enc.encode('x'), { headers: ['Content-Disposition: form-data; name="file"'] });
    expect(await refusal(readFilePart(request(text), 'file'))).toMatchObject({ status: 400, field: 'file' });
  });

  it('an empty body, or one with no part, is a missing file', async () => {
    for (const bytes of [new Uint8Array(0), enc.encode(`--${BOUNDARY}--\r\n`)]) {
      expect(await refusal(readFilePart(request(bytes, 3), 'file'))).toMatchObject({
        status: 400,
        code: 'VALIDATION_ERROR',
        field: 'file',
      });
    }
  });

  it(`part headers over ${MAX_HEAD_BYTES} bytes are refused without reading on`, async () => {
    const long = body(enc.encode('x'), {
      headers: [
        'Content-Disposition: form-data; name="file"; filename="a.txt"',
        `X-Pad: ${'p'.repeat(MAX_HEAD_BYTES)}`,
      ],
    });
    let pulled = 0;
    const source = chunked(long, 1024).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          pulled += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    );
    const error = await refusal(
      readFilePart(
        { body: source, contentType: `multipart/form-data; boundary=${BOUNDARY}`, contentLength: undefined },
        'file',
      ),
    );
    expect(error).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    expect(pulled).toBeLessThan(MAX_HEAD_BYTES + 4096);
  });
});

describe('multipart headers', () => {
  it('parses parameters, quoted or not, first one wins', () => {
    expect(parseHeaderValue('Form-Data; name=file; filename="a;b.txt"; name=other')).toEqual({
      value: 'form-data',
      params: new Map([
        ['name', 'file'],
        ['filename', 'a;b.txt'],
      ]),
    });
    // Backslashes other than escapes stay (browsers send Windows paths as they are).
    expect(parseHeaderValue('form-data; filename="C:\\Users\\a.txt"').params.get('filename')).toBe(
      'C:\\Users\\a.txt',
    );
  });

  it('takes the boundary of multipart/form-data only', () => {
    expect(formBoundary('multipart/form-data; boundary=----WebKitFormBoundaryAbC123')).toBe(
      '----WebKitFormBoundaryAbC123',
    );
    expect(formBoundary('multipart/mixed; boundary=abc')).toBeUndefined();
    expect(formBoundary('multipart/form-data; boundary=')).toBeNull();
    expect(formBoundary(`multipart/form-data; boundary=${'b'.repeat(71)}`)).toBeNull();
  });
});

describe('multipart writer', () => {
  it('frames the fields and the streamed file so a multipart parser reads them back', async () => {
    const content = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
    const written = multipartStream(
      { purpose: 'assistants' },
      { name: 'file', filename: 'notes.txt', type: 'text/plain', content: chunked(content, 4096) },
    );
    const form = await new Response(written.body, {
      headers: { 'content-type': written.contentType },
    }).formData();
    expect(form.get('purpose')).toBe('assistants');
    const file = form.get('file');
    if (!(file instanceof File)) throw new Error('no file part');
    expect(file).toMatchObject({ name: 'notes.txt', type: 'text/plain', size: content.length });
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(content);
  });

  it('never closes a body whose file content failed', async () => {
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(enc.encode('partial'));
        controller.error(new Error('cut'));
      },
    });
    const written = multipartStream(
      {},
      { name: 'file', filename: 'a', type: 'text/plain', content: failing },
    );
    await expect(new Response(written.body).text()).rejects.toThrow();
  });
});
