import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { isJsonMediaType } from '../media-type';

/**
 * The one key JSON may hold that a JavaScript object does not keep as data: assigned,
 * `__proto__` sets the object's prototype instead. A validator that copies a record or a
 * loose object (thread metadata, a db value, a tenant merge patch) assigns it, so the key
 * vanished from what was stored or sent upstream, without a word; it is refused instead
 * (not in a chat turn, whose history the gateway neither stores nor forwards). (`constructor` and `prototype` are plain keys, kept as data, or refused
 * by a strict schema as unknown fields.)
 */
const PROTO_KEY = '__proto__';

interface Node {
  value: unknown;
  key: string;
  parent: Node | undefined;
}

/** The dotted path (`metadata.__proto__`, `auth.hs256.0.__proto__`) of a `__proto__` key in `value`, if any. */
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
 * Whether JSON `text` can hold a `__proto__` key at all: its characters are in the text
 * as they are or as `\u` escapes, so text with neither cannot, and is not parsed here.
 * Most bodies are that, so the check costs them one scan, not a second parse.
 */
function mayHoldProtoKey(text: string): boolean {
  return text.includes(PROTO_KEY) || text.includes('\\u');
}

/**
 * Refuses a JSON request body holding a `__proto__` key anywhere with `400
 * VALIDATION_ERROR`, `field` its dotted path, before any validator or admission sees it:
 * nothing is written, reserved or sent upstream. Mount it after the body cap and the
 * depth limit (what it parses is bounded and shallow). It reads the body through Hono's
 * body cache, like the depth limit; malformed JSON and a body that cannot be read are
 * left to the validator, which answers them as on any route.
 */
export function protoKeyRefusal() {
  return createMiddleware<AppEnv>(async function protoKeyRefusal(c, next) {
    if (c.req.raw.body !== null && isJsonMediaType(c.req.header('content-type'))) {
      let parsed: unknown;
      try {
        const text = await c.req.text();
        parsed = mayHoldProtoKey(text) ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const field = protoKeyPath(parsed);
      if (field !== undefined) {
        throw new ApiError('VALIDATION_ERROR', `${field}: a ${PROTO_KEY} key is refused.`, { field });
      }
    }
    await next();
  });
}
