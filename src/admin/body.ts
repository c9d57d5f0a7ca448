import { createMiddleware } from 'hono/factory';
import type { MiddlewareHandler } from 'hono/types';
import type { AppEnv } from '../env';
import { mediaEssence, wrongMediaType } from '../media-type';
import { jsonDepthLimit } from '../middleware/json-depth';
import { protoKeyRefusal } from '../middleware/proto-keys';

/**
 * What a tenant PATCH is read as: RFC 7396's own media type, or plain JSON. Another
 * `+json` type names another format (`application/json-patch+json` is a list of RFC 6902
 * operations), and read as a merge patch it would change what its sender did not mean.
 */
export const MERGE_PATCH_TYPES: readonly string[] = ['application/merge-patch+json', 'application/json'];

/**
 * What a tenant PUT is read as: plain JSON, a `TENANTS` entry. Every other `+json` type
 * names a format of its own (a merge patch sent to PUT would replace the tenant with the
 * patch), so none of them is taken for an entry.
 */
export const ENTRY_TYPES: readonly string[] = ['application/json'];

const depth = jsonDepthLimit();
const protoKeys = protoKeyRefusal();

/**
 * The body checks of the tenant writes, in order and before their validators: a
 * `Content-Type` whose essence is not one of `types` (or none) is `415`, from the header
 * before the body is read; JSON nested deeper than 64 levels is the `400` of every route
 * (the validator recurses per level: 10 000 of them were a RangeError), before it is
 * parsed; a `__proto__` key anywhere is `400 VALIDATION_ERROR` naming it (a merge would
 * swallow it), so nothing is written. Malformed JSON is left to the validators, which
 * answer it as on any route.
 */
export function tenantBody(types: readonly string[]): MiddlewareHandler<AppEnv>[] {
  const mediaType = createMiddleware<AppEnv>(async function tenantMediaType(c, next) {
    if (!types.includes(mediaEssence(c.req.header('content-type')) ?? '')) throw wrongMediaType();
    await next();
  });
  return [mediaType, depth, protoKeys];
}
