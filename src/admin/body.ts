import { createMiddleware } from 'hono/factory';
import type { MiddlewareHandler } from 'hono/types';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { isJsonMediaType, mediaEssence, wrongMediaType } from '../media-type';
import { jsonDepthLimit } from '../middleware/json-depth';

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

/**
 * The one key JSON may hold that a JavaScript object does not keep as data: assigned,
 * `__proto__` sets the object's prototype instead. The body's validator drops it and a
 * merge would swallow it, so a write would succeed without it; it is refused instead.
 * (`constructor` and `prototype` are plain keys, refused by the schema as unknown fields.)
 */
const PROTO_KEY = '__proto__';

interface Node {
  value: unknown;
  key: string;
  parent: Node | undefined;
}

/** The dotted path (`limits.__proto__`, `auth.hs256.0.__proto__`) of a `__proto__` key in `value`, if any. */
export function protoKeyPath(value: unknown): string | undefined {
  // A walk with a stack, not recursion: the body's nesting is the sender's choice.
  const stack: Node[] = [{ value, key: '', parent: undefined }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.value === null || typeof node.value !== 'object') continue;
    for (const [key, child] of Object.entries(node.value)) {
      const next: Node = { value: child, key, parent: node };
      if (key === PROTO_KEY) return pathOf(next);
      stack.push(next);
    }
  }
  return undefined;
}

function pathOf(node: Node): string {
  const keys: string[] = [];
  for (let at: Node | undefined = node; at?.parent !== undefined; at = at.parent) keys.push(at.key);
  return keys.reverse().join('.');
}

/**
 * The body checks of the tenant writes, in order and before their validators: a
 * `Content-Type` whose essence is not one of `types` (or none) is `415`, from the header
 * before the body is read; JSON nested deeper than 64 levels is the `400` of every route
 * (the validator recurses per level: 10 000 of them were a RangeError), before it is
 * parsed; a JSON body holding a `__proto__` key anywhere is `400 VALIDATION_ERROR` naming
 * it, so nothing is written. Malformed JSON is left to the validators, which answer it as
 * on any route.
 */
export function tenantBody(types: readonly string[]): MiddlewareHandler<AppEnv>[] {
  const mediaType = createMiddleware<AppEnv>(async function tenantMediaType(c, next) {
    if (!types.includes(mediaEssence(c.req.header('content-type')) ?? '')) throw wrongMediaType();
    await next();
  });
  return [mediaType, depth, protoKeys];
}

const depth = jsonDepthLimit();

const protoKeys = createMiddleware<AppEnv>(async function protoKeys(c, next) {
  if (isJsonMediaType(c.req.header('content-type'))) {
    let parsed: unknown;
    try {
      // Through Hono's body cache: the validator after this parses the same text.
      parsed = JSON.parse(await c.req.text());
    } catch {
      parsed = undefined;
    }
    const field = protoKeyPath(parsed);
    if (field !== undefined) {
      throw new ApiError('VALIDATION_ERROR', `${field}: not a field; a ${PROTO_KEY} key is refused.`, {
        field,
      });
    }
  }
  await next();
});
