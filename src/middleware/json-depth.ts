import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

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

/** The one answer for a body nested too deep. */
export function tooDeep(max: number = MAX_JSON_DEPTH): ApiError {
  return new ApiError(400, 'BAD_REQUEST', `JSON bodies may nest at most ${max} levels.`);
}

/** The media types Hono's JSON validator parses (`application/json`, `application/*+json`). */
const JSON_TYPE = /^application\/([a-z0-9.-]+\+)?json\s*(;|$)/i;

/**
 * Refuses a JSON request body nested deeper than `maxDepth` with `400 BAD_REQUEST`,
 * before any validator (zod recurses per level and overflows the stack on a 10 KB body
 * of brackets) or admission sees it. Mount it after the body-size limit, so what it
 * reads is bounded. It reads a clone: the request's own body stays unread for the
 * middleware and validator after it.
 */
export function jsonDepthLimit({ maxDepth = MAX_JSON_DEPTH }: { maxDepth?: number } = {}) {
  return createMiddleware<AppEnv>(async function jsonDepthLimit(c, next) {
    const type = c.req.header('content-type');
    if (c.req.raw.body !== null && type !== undefined && JSON_TYPE.test(type)) {
      let text: string;
      try {
        text = await c.req.raw.clone().text();
      } catch {
        throw new ApiError(400, 'BAD_REQUEST', 'Malformed request body.');
      }
      if (jsonTooDeep(text, maxDepth)) throw tooDeep(maxDepth);
    }
    await next();
  });
}
