import { utf8 } from './bytes';

/** A `multipart/form-data` body written as a stream, and the Content-Type that names its boundary. */
export interface MultipartBody {
  body: ReadableStream<Uint8Array>;
  contentType: string;
}

/** The file part of a body built by {@link multipartStream}. */
export interface FileField {
  name: string;
  /** Already safe: no `"`, CR, LF or other controls (services/files.ts makes it so). */
  filename: string;
  type: string;
  content: ReadableStream<Uint8Array>;
}

/**
 * A multipart body of `fields` (text) and then one file, whose content is piped through
 * as it arrives: the framing goes out before the first and after the last byte of the
 * file, and the body's end is the file's end (an error in the content errors the body,
 * so the receiver never sees it closed). The boundary is random, so content a caller
 * chose cannot contain it.
 */
export function multipartStream(fields: Record<string, string>, file: FileField): MultipartBody {
  const boundary = `epsimo-edge-${crypto.randomUUID()}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\n` +
    `Content-Type: ${file.type}\r\n\r\n`;
  const prefix = utf8(head);
  const suffix = utf8(`\r\n--${boundary}--\r\n`);
  // Pulled, not piped: a pipe's own promise would reject, unheard, when the content errors.
  const reader = file.content.getReader();
  let stage: 'head' | 'content' | 'done' = 'head';
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (stage === 'head') {
          stage = 'content';
          controller.enqueue(prefix);
          return;
        }
        if (stage === 'done') return;
        const read = await reader.read();
        if (!read.done) {
          controller.enqueue(read.value);
          return;
        }
        stage = 'done';
        controller.enqueue(suffix);
        controller.close();
      },
      cancel: (reason) => reader.cancel(reason).catch(() => undefined),
    },
    { highWaterMark: 0 },
  );
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
