/**
 * Reading JSON in tests without casts: bodies go through a zod schema, so a test that
 * reads a field has also checked that the field is there and has the type it expects.
 */
import { z } from 'zod';

/** What the helpers need of a response: a `Response` or an `hc` `ClientResponse`. */
export interface BodyLike {
  readonly status: number;
  readonly headers: Headers;
  text(): Promise<string>;
}

/** Any JSON object, fields unchecked. */
export const JsonObject = z.record(z.string(), z.unknown());

/** Parses the JSON `text` and checks it with `schema`; fails with the text when either fails. */
export function parseText<S extends z.ZodType>(text: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`not JSON: ${text.slice(0, 300)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(`unexpected body ${text.slice(0, 300)}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Reads `res`'s JSON body through `schema`. */
export async function parseJson<S extends z.ZodType>(res: BodyLike, schema: S): Promise<z.output<S>> {
  return parseText(await res.text(), schema);
}
