import { z } from '@hono/zod-openapi';
import { JsonValueSchema as JsonValue } from '../json';
import { IdSchema } from '../tenant';

/** An id in the public API: the one id schema of config.ts (`.openapi()` is added once this module loads). */
export const ApiIdSchema = IdSchema;

/** The contract's error body. */
export const ErrorSchema = z
  .object({
    error: z.string(),
    detail: z.string(),
    code: z.string(),
    request_id: z.string(),
    field: z.string().optional(),
  })
  .openapi('Error');

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed JSON, JSON nested deeper than 64 levels, bad id, unknown field or value out of range (`field` names it)',
  401: 'No, bad or expired session token',
  403: 'The operator blocked this end user (`USER_BLOCKED`)',
  404: 'Not found, or not the caller’s',
  408: 'The request body did not arrive in time (`BODY_TIMEOUT_MS`)',
  409: 'In conflict with a run in progress (`RUN_IN_PROGRESS`) or an earlier request (`IDEMPOTENCY_CONFLICT`)',
  413: 'Body over the route’s limit',
  415: 'The body has the wrong Content-Type for the route',
  429:
    'Over a rate limit, stream or thread quota (`RATE_LIMITED`, `TOO_MANY_STREAMS`, `QUOTA_EXCEEDED`), ' +
    'or a spend budget is used up (`BUDGET_EXCEEDED`, `Retry-After` = seconds to the window’s end)',
  502: 'The upstream answered with something unusable',
  503:
    'The upstream is unreachable or over its rate limit, the config is invalid, or the upstream account ' +
    'is nearly out of threads (`ACCOUNT_EXHAUSTED`)',
  504: 'The upstream did not answer in time',
};

/**
 * OpenAPI response entries for the given error statuses (plus the ones every route has;
 * a route with a body cap, 413, can also time its body out, 408).
 */
export function errorResponses(...statuses: number[]) {
  const withBody = statuses.includes(413) ? [408] : [];
  const all = [...new Set([...statuses, ...withBody, 401, 429, 502, 503, 504])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/json': { schema: ErrorSchema } },
      },
    ]),
  );
}

const id = (name: string) =>
  ApiIdSchema.openapi({ param: { name, in: 'path' }, example: `${name.split('_')[0]}_abc123` });

export const ThreadParams = z.object({ thread_id: id('thread_id') }).strict();
export const DbKeyParams = z.object({ thread_id: id('thread_id'), key: id('key') }).strict();
export const FileParams = z.object({ file_id: id('file_id') }).strict();

export const AssistantSchema = z.object({ assistant_id: z.string(), name: z.string() }).openapi('Assistant', {
  description: 'An allow-listed assistant; never its instructions, tools or model.',
});

export const ThreadSchema = z
  .object({
    thread_id: z.string(),
    name: z.string().nullable(),
    assistant_id: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('Thread');

export const MessageSchema = z
  .object({
    message_id: z.string().nullable(),
    role: z.string(),
    content: z.string(),
    timestamp: z.string().nullable(),
  })
  .openapi('Message');

export const ThreadDetailSchema = ThreadSchema.extend({ messages: z.array(MessageSchema) }).openapi(
  'ThreadDetail',
);

export const MessagesPageSchema = z
  .object({ messages: z.array(MessageSchema), has_more: z.boolean() })
  .openapi('MessagesPage');

export const FileSchema = z
  .object({
    file_id: z.string(),
    filename: z.string(),
    size: z.number().int(),
    mime_type: z.string(),
    uploaded_at: z.string(),
  })
  .openapi('File');

/** Any JSON value (virtual database values), named in the document. */
export const JsonValueSchema = JsonValue.openapi('JsonValue');

/** An OpenAPI JSON response (or request body) entry. */
export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
});
