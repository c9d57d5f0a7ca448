import { z } from 'zod';
import { ApiError } from '../errors';
import { type JsonValue, JsonValueSchema } from '../json';
import { UpstreamDbPutSchema } from '../upstream/schemas';
import { projectScope, type RequestContext } from './context';

/** The most a stored value may weigh, serialized (bytes). */
export const MAX_DB_VALUE_BYTES = 64 * 1024;

/** Values are the caller's own data (arbitrary JSON), passed through as parsed JSON. */
const JsonRecord = z.record(z.string(), JsonValueSchema);

const dbPath = (ctx: RequestContext, threadId: string, key?: string) =>
  key === undefined ? ['db', ctx.tenant.project_id, threadId] : ['db', ctx.tenant.project_id, threadId, key];

/** Every key of the caller's thread's virtual database. */
export async function getAll(ctx: RequestContext, threadId: string): Promise<Record<string, JsonValue>> {
  return ctx.upstream.json(
    { method: 'GET', path: dbPath(ctx, threadId), scope: projectScope(ctx), signal: ctx.signal },
    JsonRecord,
  );
}

/** One key; the upstream's 404 for an absent key passes through as `404`. */
export async function getKey(ctx: RequestContext, threadId: string, key: string): Promise<JsonValue> {
  return ctx.upstream.json(
    { method: 'GET', path: dbPath(ctx, threadId, key), scope: projectScope(ctx), signal: ctx.signal },
    JsonValueSchema,
  );
}

export async function putKey(ctx: RequestContext, threadId: string, key: string, value: JsonValue) {
  const bytes = new TextEncoder().encode(JSON.stringify(value)).byteLength;
  if (bytes > MAX_DB_VALUE_BYTES) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `value is ${bytes} bytes; at most ${MAX_DB_VALUE_BYTES}.`, {
      field: 'value',
    });
  }
  await ctx.upstream.json(
    { method: 'PUT', path: dbPath(ctx, threadId, key), json: { value }, scope: projectScope(ctx) },
    UpstreamDbPutSchema,
  );
  return { key, value };
}
