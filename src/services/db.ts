import { z } from 'zod';
import { ApiError } from '../errors';
import { DbPutResponseSchema } from '../upstream/schemas';
import { type Gateway, projectScope } from './gateway';

/** The most a stored value may weigh, serialized (bytes). */
export const MAX_DB_VALUE_BYTES = 64 * 1024;

/** Values are the caller's own data (arbitrary JSON), passed through as parsed JSON. */
const JsonValue = z.json();
const JsonRecord = z.record(z.string(), JsonValue);
type JsonValue = z.infer<typeof JsonValue>;

const dbPath = (gw: Gateway, threadId: string, key?: string) =>
  key === undefined ? ['db', gw.tenant.project_id, threadId] : ['db', gw.tenant.project_id, threadId, key];

/** Every key of the caller's thread's virtual database. */
export async function getAll(gw: Gateway, threadId: string): Promise<Record<string, JsonValue>> {
  return gw.upstream.json(
    { method: 'GET', path: dbPath(gw, threadId), scope: projectScope(gw), signal: gw.signal },
    JsonRecord,
  );
}

/** One key; the upstream's 404 for an absent key passes through as `404`. */
export async function getKey(gw: Gateway, threadId: string, key: string): Promise<JsonValue> {
  return gw.upstream.json(
    { method: 'GET', path: dbPath(gw, threadId, key), scope: projectScope(gw), signal: gw.signal },
    JsonValue,
  );
}

export async function putKey(gw: Gateway, threadId: string, key: string, value: JsonValue) {
  const bytes = new TextEncoder().encode(JSON.stringify(value)).byteLength;
  if (bytes > MAX_DB_VALUE_BYTES) {
    throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `value is ${bytes} bytes; at most ${MAX_DB_VALUE_BYTES}.`, {
      field: 'value',
    });
  }
  await gw.upstream.json(
    { method: 'PUT', path: dbPath(gw, threadId, key), json: { value }, scope: projectScope(gw) },
    DbPutResponseSchema,
  );
  return { key, value };
}
