import { jsonTooDeep } from '../json-depth';

/**
 * Makes upstream text safe for a log line. A deny-list of key names always misses one
 * (`refresh_token`, `api_key`, `client_secret`...), so any key whose name merely
 * *contains* a credential word has its value replaced, whatever the encoding: JSON
 * (parsed when it is whole, by pattern when the log read only a prefix), form and
 * query encodings (`password=...&`) and header-like text (`Authorization: Token ...`).
 * Values that look like credentials wherever they appear (JWTs, `Bearer`/`Token`
 * credentials) and email addresses go too. Over-redacting a log line costs nothing.
 */

/** A key naming a credential: `token`, `refresh_token`, `apiKey`, `client_secret`, `Authorization`... */
const SENSITIVE_KEY = /token|secret|key|pass|pwd|auth|cookie|credential|signature|session/i;

const REDACTED = '[redacted]';

/**
 * Characters read past `max`: redaction only shortens text by at most this much per
 * value it replaces, and whole JSON up to this size is still parsed and walked.
 */
const HEAD_SLACK = 4096;

/** Complete JSON is walked only this deep (the rest goes to the patterns below). */
const WALK_DEPTH = 32;

/** `"key": value` where value is a string (maybe cut short), a flat array or object, or a scalar. */
const JSON_PAIR = /"([^"\\]{1,64})"(\s*:\s*)("(?:[^"\\]|\\.)*"?|\[[^[\]]*\]?|\{[^{}]*\}?|[^\s,}\]]+)/g;

/** `key=value` and `key: value` in forms, queries, headers and prose. */
const TEXT_KEY = /([A-Za-z0-9_.-]{1,64})(\s*[=:]\s*)/g;
/** The value after a sensitive key: quoted, or up to the next separator of its encoding. */
const TEXT_VALUE = /"[^"]*"?|[^\s&,;"'<>]+/y;

/** Credentials recognisable by their shape, wherever they are. */
const SHAPES: ReadonlyArray<[RegExp, string]> = [
  [/\bBearer\s+[^\s"',;]+/gi, `Bearer ${REDACTED}`],
  // Other schemes are also words: only a credential-like run of 8 or more is taken.
  [/\b(Token|Basic|Digest|ApiKey)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}/g, '[jwt]'],
  // Bounded runs: an unbounded `[...]+@` rescans the rest of the text from every position.
  [/[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/g, '[email]'],
];

/**
 * Redacts `text` (above), drops control characters (no forged log lines) and cuts the
 * result to `max` characters. Redaction runs before the cut, so a secret is never
 * half-kept at the edge.
 */
export function redact(text: string, max: number): string {
  // Only the head can reach the line; what lies past it cannot leak, nor cost time.
  let out = redactJson(text.length > max + HEAD_SLACK ? text.slice(0, max + HEAD_SLACK) : text);
  for (const [pattern, replacement] of SHAPES) out = out.replace(pattern, replacement);
  out = out.replace(JSON_PAIR, (pair, key: string, colon: string) =>
    SENSITIVE_KEY.test(key) ? `"${key}"${colon}"${REDACTED}"` : pair,
  );
  out = redactTextPairs(out);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/**
 * `key=value` pairs with a sensitive key lose their value. Only a key and its separator
 * are consumed before the check, so a pair inside another's value (`next=/cb?token=...`)
 * is still found, and no text is scanned twice.
 */
function redactTextPairs(text: string): string {
  const keys = new RegExp(TEXT_KEY);
  const value = new RegExp(TEXT_VALUE);
  let out = '';
  let kept = 0;
  for (let match = keys.exec(text); match !== null; match = keys.exec(text)) {
    if (!SENSITIVE_KEY.test(match[1] ?? '')) continue;
    value.lastIndex = keys.lastIndex;
    const found = value.exec(text)?.[0];
    if (found === undefined || found === `"${REDACTED}"`) continue;
    out += `${text.slice(kept, keys.lastIndex)}${REDACTED}`;
    kept = keys.lastIndex + found.length;
    keys.lastIndex = kept;
  }
  return out + text.slice(kept);
}

/** Whole JSON: every value under a sensitive key (arrays and objects included) replaced. */
function redactJson(text: string): string {
  const start = text.trimStart()[0];
  if ((start !== '{' && start !== '[') || jsonTooDeep(text, WALK_DEPTH)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text; // a prefix or not JSON: the patterns handle it
  }
  return JSON.stringify(scrub(parsed));
}

function scrub(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrub);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, SENSITIVE_KEY.test(key) ? REDACTED : scrub(inner)]),
  );
}
