import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../json-depth';

/** The one answer for a body nested too deep. */
export function tooDeep(max: number = MAX_JSON_DEPTH): ApiError {
  return new ApiError('BAD_REQUEST', `JSON bodies may nest at most ${max} levels.`);
}

/** The media types Hono's JSON validator parses (`application/json`, `application/*+json`). */
const JSON_TYPE = /^application\/([a-z0-9.-]+\+)?json\s*(;|$)/i;

/**
 * Refuses a JSON request body nested deeper than `maxDepth` with `400 BAD_REQUEST`,
 * before any validator (zod recurses per level and overflows the stack on a 10 KB body
 * of brackets) or admission sees it. Mount it after the body-size limit, so what it
 * reads is bounded. It reads the body once, through Hono's body cache: the validator
 * after it parses the cached text (no second read, no tee of the stream).
 */
export function jsonDepthLimit({ maxDepth = MAX_JSON_DEPTH }: { maxDepth?: number } = {}) {
  return createMiddleware<AppEnv>(async function jsonDepthLimit(c, next) {
    const type = c.req.header('content-type');
    if (c.req.raw.body !== null && type !== undefined && JSON_TYPE.test(type)) {
      let text: string;
      try {
        text = await c.req.text();
      } catch {
        throw new ApiError('BAD_REQUEST', 'Malformed request body.');
      }
      if (jsonTooDeep(text, maxDepth)) throw tooDeep(maxDepth);
    }
    await next();
  });
}
