import { ApiError } from '../errors';
import { concat, indexOf, startsWith, utf8 } from './bytes';
import { formBoundary, parseHeaderValue, parsePartHeaders } from './headers';
import { ContentScanner, malformed } from './scanner';

/**
 * Reads a `multipart/form-data` body of exactly one part, a file, as a stream: the
 * part's headers are read first (a few KiB at most), its content is then handed on as
 * it arrives and never held whole. This is what lets an upload of `files.max_bytes`
 * (up to 100 MiB) pass through an isolate of 128 MB: `formData()` would hold it, and
 * each copy of it, in memory (RFC 7578, RFC 2046 section 5.1.1).
 */

/** Preamble, boundary line and the part's headers must fit in this many bytes. */
export const MAX_HEAD_BYTES = 16 * 1024;

const CRLF = utf8('\r\n');
const HEADERS_END = utf8('\r\n\r\n');
const decoder = new TextDecoder();

/** The file part of an upload, its headers read and its content not yet. */
export interface FilePart {
  /** The part's `filename` parameter as sent ('' when empty); not yet made safe. */
  filename: string;
  /** The part's `Content-Type` header as sent ('' when absent). */
  contentType: string;
  /**
   * The most content bytes the body can hold, from its declared `Content-Length`: what is
   * left after the headers, less the closing boundary (`undefined` when no length was declared).
   */
  room: number | undefined;
  /**
   * The part's content, read as it is pulled, and how many bytes of it have passed. When
   * the content passes `maxBytes` (413), the body ends before its closing boundary or holds
   * another part (400), `onError` gets the `ApiError` and must stop the stream's consumer
   * (abort the fetch sending it), which cancels the stream. The stream does not error
   * itself: workerd reports a request body that errors as an uncaught exception. It never
   * closes unless the content is complete, so a receiver never takes a cut one for whole.
   */
  content(maxBytes: number, onError: (error: unknown) => void): Content;
  /** Stops reading the body (the upload was refused before its content was needed). */
  cancel(): Promise<void>;
}

/** A part's content as it streams. */
export interface Content {
  stream: ReadableStream<Uint8Array>;
  /** Bytes released so far: the whole content's size once the stream has closed. */
  size(): number;
}

/** What of the request the reader needs. */
export interface MultipartRequest {
  body: ReadableStream<Uint8Array> | null;
  contentType: string | undefined;
  contentLength: number | undefined;
}

/**
 * Reads up to the content of the one part, which must be named `field` and carry a
 * filename. Throws the contract's error (415 for another media type, 400 for a malformed
 * body, a missing file or another field) before any content is read.
 */
export async function readFilePart(request: MultipartRequest, field: string): Promise<FilePart> {
  const boundary = formBoundary(request.contentType);
  if (boundary === undefined) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Uploads are multipart/form-data.');
  }
  if (boundary === null) throw malformed('its Content-Type has no valid boundary');
  if (!request.body) throw required(field);
  const reader = request.body.getReader();
  const delimiter = utf8(`\r\n--${boundary}`);
  try {
    const tooLong = () => malformed(`its part headers are over ${MAX_HEAD_BYTES} bytes`);
    let buffered: Uint8Array = new Uint8Array(0);
    for (;;) {
      const head = parseHead(buffered, delimiter);
      if (head === 'closed') throw required(field);
      if (head !== 'more') {
        if (head.contentStart > MAX_HEAD_BYTES) throw tooLong();
        const { filename, contentType } = filePart(head.headers, field);
        const rest = buffered.subarray(head.contentStart);
        const room =
          request.contentLength === undefined
            ? undefined
            : request.contentLength - head.contentStart - (delimiter.length + 2);
        return {
          filename,
          contentType,
          room,
          content: (maxBytes, onError) => contentStream(reader, rest, delimiter, maxBytes, field, onError),
          cancel: () => reader.cancel().catch(() => undefined),
        };
      }
      if (buffered.length > MAX_HEAD_BYTES) throw tooLong();
      const read = await readChunk(reader);
      if (read.done) throw buffered.length === 0 ? required(field) : malformed('it ended in its headers');
      buffered = concat(buffered, read.value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    throw error;
  }
}

type Head = { headers: string; contentStart: number } | 'more' | 'closed';

/**
 * Finds the first part's headers in what has arrived: the first boundary (at the start or
 * after a preamble line), transport padding, CRLF, then headers up to a blank line.
 */
function parseHead(bytes: Uint8Array, delimiter: Uint8Array): Head {
  // The first boundary may open the body without the CRLF that precedes later ones.
  const dashBoundary = delimiter.subarray(2);
  let pos: number;
  if (startsWith(bytes, dashBoundary)) pos = dashBoundary.length;
  else {
    const at = indexOf(bytes, delimiter);
    if (at < 0) return 'more';
    pos = at + delimiter.length;
  }
  if (bytes.length < pos + 2) return 'more';
  if (bytes[pos] === 0x2d && bytes[pos + 1] === 0x2d) return 'closed';
  while (bytes[pos] === 0x20 || bytes[pos] === 0x09) pos++;
  if (bytes.length < pos + 2) return 'more';
  if (!startsWith(bytes, CRLF, pos)) throw malformed('a boundary line does not end with CRLF');
  const headerStart = pos + 2;
  if (bytes.length < headerStart + 2) return 'more';
  if (startsWith(bytes, CRLF, headerStart)) return { headers: '', contentStart: headerStart + 2 };
  const end = indexOf(bytes, HEADERS_END, headerStart);
  if (end < 0) return 'more';
  return { headers: decoder.decode(bytes.subarray(headerStart, end)), contentStart: end + 4 };
}

/** The part's name must be `field`, and it must be a file (have a filename). */
function filePart(block: string, field: string): { filename: string; contentType: string } {
  const headers = parsePartHeaders(block);
  const disposition = parseHeaderValue(headers.get('content-disposition') ?? '');
  const name = disposition.params.get('name');
  if (disposition.value !== 'form-data' || name === undefined) {
    throw malformed('a part has no form-data name');
  }
  if (name !== field) {
    // Named in `field` only when it is a plain name: the error body echoes nothing odd.
    const plain = /^[A-Za-z0-9_.-]{1,64}$/.test(name);
    throw new ApiError(
      'VALIDATION_ERROR',
      plain ? `Unknown field: ${name}.` : 'Unknown field.',
      plain ? { field: name } : {},
    );
  }
  const filename = disposition.params.get('filename');
  if (filename === undefined) {
    throw new ApiError('VALIDATION_ERROR', `${field}: must be a file.`, { field });
  }
  return { filename, contentType: headers.get('content-type') ?? '' };
}

/**
 * The content as a pull stream (nothing is read ahead of its consumer): each chunk of
 * the body goes through a {@link ContentScanner}, which releases what cannot be part of
 * the closing delimiter.
 */
function contentStream(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  delimiter: Uint8Array,
  maxBytes: number,
  field: string,
  onError: (error: unknown) => void,
): Content {
  const scanner = new ContentScanner(delimiter, maxBytes, field);
  let pending: Uint8Array | undefined = first;
  let onCancel = () => {};
  const cancelled = new Promise<void>((resolve) => {
    onCancel = resolve;
  });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            let chunk = pending;
            pending = undefined;
            if (chunk === undefined) {
              const read = await readChunk(reader);
              if (read.done) {
                scanner.end();
                controller.close();
                return;
              }
              chunk = read.value;
            }
            const released = scanner.push(chunk);
            for (const piece of released) controller.enqueue(piece);
            if (scanner.done) {
              // The epilogue (usually a CRLF) is not waited for: the file is whole.
              controller.close();
              await reader.cancel().catch(() => undefined);
              return;
            }
            if (released.length > 0) return;
          }
        } catch (error) {
          await reader.cancel().catch(() => undefined);
          onError(error);
          // Pending until the consumer, stopped by onError, cancels: nothing more is read.
          await cancelled;
        }
      },
      cancel: (reason) => {
        onCancel();
        return reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, size: () => scanner.size };
}

/** One chunk of the body; a body that cannot be read (cut off, timed out) is a 400 here. */
async function readChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  try {
    return await reader.read();
  } catch {
    // A body cut off by its deadline becomes 408 in middleware/body-deadline.ts.
    throw new ApiError('BAD_REQUEST', 'The upload did not arrive whole.');
  }
}

function required(field: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `${field}: is required.`, { field });
}
