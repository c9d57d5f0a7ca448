/** Byte helpers for the streaming multipart reader and writer. */

const encoder = new TextEncoder();

/** `text` as UTF-8 bytes. */
export const utf8 = (text: string): Uint8Array => encoder.encode(text);

/**
 * The first index at or after `from` where `needle` (non-empty) starts in `haystack`, or -1.
 * Candidates are found with the native `indexOf` of the first byte; for the delimiters
 * searched here (`\r\n--` + a boundary, which cannot contain `\r`) no two partial
 * matches overlap, so a scan is linear in the haystack.
 */
export function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  if (first === undefined) return -1;
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    if (startsWith(haystack, needle, i)) return i;
  }
  return -1;
}

/** Whether `bytes` holds `prefix` at `at` (false when it is too short to tell). */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array, at = 0): boolean {
  if (bytes.length - at < prefix.length) return false;
  for (let j = 0; j < prefix.length; j++) if (bytes[at + j] !== prefix[j]) return false;
  return true;
}

/** `a` followed by `b`, in a new array (or one of them when the other is empty). */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
