/**
 * Header values of a multipart body: the request's `Content-Type` (its boundary) and a
 * part's `Content-Disposition` (its name and filename).
 */

/** A header value split into its first token (lower case) and its `;` parameters. */
export interface HeaderValue {
  value: string;
  /** Parameter names in lower case; values unquoted. */
  params: Map<string, string>;
}

/**
 * Parses `type; a=b; c="d"`. Quoted values may escape `"` and `\` with a backslash (curl
 * does); any other backslash is kept, as browsers send Windows paths unescaped. A
 * parameter given twice keeps its first value.
 */
export function parseHeaderValue(header: string): HeaderValue {
  const params = new Map<string, string>();
  const semi = header.indexOf(';');
  const value = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  let i = semi < 0 ? header.length : semi + 1;
  while (i < header.length) {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t' || header[i] === ';')) i++;
    const nameEnd = findAny(header, '=;', i);
    const name = header.slice(i, nameEnd).trim().toLowerCase();
    i = nameEnd;
    let paramValue = '';
    if (header[i] === '=') {
      i++;
      while (header[i] === ' ' || header[i] === '\t') i++;
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          const next = header[i + 1];
          if (header[i] === '\\' && (next === '"' || next === '\\')) {
            paramValue += next;
            i += 2;
          } else {
            paramValue += header[i];
            i++;
          }
        }
        i++; // the closing quote
        i = findAny(header, ';', i);
      } else {
        const end = findAny(header, ';', i);
        paramValue = header.slice(i, end).trim();
        i = end;
      }
    }
    if (name && !params.has(name)) params.set(name, paramValue);
  }
  return { value, params };
}

function findAny(text: string, chars: string, from: number): number {
  for (let i = from; i < text.length; i++) if (chars.includes(text.charAt(i))) return i;
  return text.length;
}

/** RFC 2046: 1-70 of these characters, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * The boundary of a `multipart/form-data` Content-Type; `undefined` for another media
 * type, `null` for a multipart one whose boundary is missing or invalid.
 */
export function formBoundary(contentType: string | undefined): string | null | undefined {
  if (contentType === undefined) return undefined;
  const { value, params } = parseHeaderValue(contentType);
  if (value !== 'multipart/form-data') return undefined;
  const boundary = params.get('boundary');
  return boundary !== undefined && BOUNDARY.test(boundary) ? boundary : null;
}

/** A part's headers (names in lower case; the first of a repeated name wins). */
export function parsePartHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}
