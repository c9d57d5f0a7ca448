import { ApiError } from '../errors';
import { concat, indexOf } from './bytes';

/**
 * Finds the closing delimiter in the content as it streams by, holding back only the
 * bytes that could be its beginning, and counts what it releases.
 */
export class ContentScanner {
  readonly #delimiter: Uint8Array;
  readonly #maxBytes: number;
  readonly #field: string;
  /** Bytes that may be the start of the delimiter, held until the next chunk tells. */
  #held: Uint8Array = new Uint8Array(0);
  /** The bytes after the delimiter, once it was found: `--` closes the body. */
  #after: Uint8Array | undefined;
  /** Content bytes released so far. */
  size = 0;
  /** The closing delimiter was read: the content is complete. */
  done = false;

  constructor(delimiter: Uint8Array, maxBytes: number, field: string) {
    this.#delimiter = delimiter;
    this.#maxBytes = maxBytes;
    this.#field = field;
  }

  /**
   * Takes the next bytes of the body; returns the content they release, as views of the
   * chunk where it can (no copy of the content is made, only of the few bytes held back).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.done) return [];
    if (this.#after !== undefined) {
      this.#after = concat(this.#after, chunk.subarray(0, 2));
      this.#closing();
      return [];
    }
    const length = this.#delimiter.length;
    const held = this.#held;
    let released: Uint8Array[];
    if (held.length === 0) released = this.#scan(chunk);
    else if (chunk.length < length - 1) released = this.#scan(concat(held, chunk));
    else {
      // A delimiter that starts in the held bytes ends within the chunk's first length - 1.
      const junction = concat(held, chunk.subarray(0, length - 1));
      const at = indexOf(junction, this.#delimiter);
      if (at >= 0) {
        released = [held.subarray(0, at)];
        this.#found(chunk, at + length - held.length);
      } else released = [held, ...this.#scan(chunk)];
    }
    released = released.filter((piece) => piece.length > 0);
    for (const piece of released) this.size += piece.length;
    if (this.size > this.#maxBytes) {
      throw new ApiError(
        'PAYLOAD_TOO_LARGE',
        `${this.#field} is over the limit of ${this.#maxBytes} bytes.`,
        {
          field: this.#field,
        },
      );
    }
    if (this.#after !== undefined) this.#closing();
    return released;
  }

  /** The content in `bytes`: up to the delimiter, or all but what may be its start. */
  #scan(bytes: Uint8Array): Uint8Array[] {
    const at = indexOf(bytes, this.#delimiter);
    if (at >= 0) {
      this.#found(bytes, at + this.#delimiter.length);
      return [bytes.subarray(0, at)];
    }
    const keep = Math.min(bytes.length, this.#delimiter.length - 1);
    this.#held = bytes.slice(bytes.length - keep);
    return [bytes.subarray(0, bytes.length - keep)];
  }

  /** The delimiter ends at `end` in `bytes`: what follows says whether the body closes. */
  #found(bytes: Uint8Array, end: number): void {
    this.#held = new Uint8Array(0);
    this.#after = bytes.slice(end, end + 2);
  }

  /** The body ended: it must have closed. */
  end(): void {
    if (!this.done) throw malformed('it ended before its closing boundary');
  }

  /** After the delimiter: `--` closes the body; anything else would start another part. */
  #closing(): void {
    const after = this.#after;
    if (after === undefined || after.length < 2) return;
    if (after[0] !== 0x2d || after[1] !== 0x2d) {
      throw new ApiError('VALIDATION_ERROR', `Unknown field: only one part, ${this.#field}, is accepted.`);
    }
    this.done = true;
  }
}

/** The 400 of a body that is not the multipart it says it is. */
export function malformed(why: string): ApiError {
  return new ApiError('BAD_REQUEST', `Malformed multipart body: ${why}.`);
}
