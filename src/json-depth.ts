/** The deepest a JSON body may nest objects and arrays (contract §5); the body itself is level 1. */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether JSON `text` nests objects and arrays deeper than `max`, counted in one pass
 * without recursion (brackets inside strings do not count). It does not validate:
 * malformed text is left to the parser, which answers it on its own. Validators and
 * `JSON.stringify` recurse per level, so this runs before any of them sees the value.
 */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) i += 1;
      else if (ch === QUOTE) inString = false;
    } else if (ch === QUOTE) {
      inString = true;
    } else if (ch === OPEN_OBJECT || ch === OPEN_ARRAY) {
      depth += 1;
      if (depth > max) return true;
    } else if (ch === CLOSE_OBJECT || ch === CLOSE_ARRAY) {
      depth -= 1;
    }
  }
  return false;
}
