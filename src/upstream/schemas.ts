import { z } from 'zod';

/**
 * Schemas for the upstream's responses, tolerant of the variants in
 * `shared/upstream/README.md`. Objects are `z.object` (non-strict): unknown upstream fields
 * are accepted and dropped by parsing, which is how internal fields (assistant config,
 * `_internal`, emails) never reach a client. Read upstream JSON only through these.
 */

const tokenString = z.string().min(1).max(16_384);

/**
 * A login or project response: the token in `access_token`, `token` or `jwt_token`
 * (`access_token` preferred), `expires_in` optional. Parses to `{ token, expiresIn? }`.
 */
export const UpstreamTokenSchema = z
  .object({
    access_token: tokenString.optional().catch(undefined),
    token: tokenString.optional().catch(undefined),
    jwt_token: tokenString.optional().catch(undefined),
    expires_in: z.number().finite().nonnegative().optional().catch(undefined),
  })
  .refine((r) => Boolean(r.access_token ?? r.token ?? r.jwt_token), 'no token in response')
  .transform((r) => ({ token: r.access_token ?? r.token ?? r.jwt_token ?? '', expiresIn: r.expires_in }));

const ObjectRecordSchema = z.record(z.string(), z.unknown());

/**
 * A list that arrives as a bare array or wrapped in an object under `key`
 * (`{"threads": [...], "total": N}`); parses to the array either way.
 */
export function listOf<T extends z.ZodType>(item: T, key: string) {
  return z.preprocess((value) => {
    if (Array.isArray(value)) return value;
    const wrapped = ObjectRecordSchema.safeParse(value);
    return wrapped.success ? wrapped.data[key] : value;
  }, z.array(item));
}

const id = z.string().min(1).max(256);
const timestamp = z.string().max(64);

/** An assistant: only its id and name are ever read (never its config). */
export const UpstreamAssistantSchema = z.object({
  assistant_id: id,
  name: z.string(),
});
export const UpstreamAssistantListSchema = listOf(UpstreamAssistantSchema, 'assistants');

/** A message of a thread. */
export const UpstreamMessageSchema = z.object({
  message_id: id.optional(),
  role: z.string().min(1).max(32),
  content: z.string(),
  timestamp: timestamp.optional(),
});
export type UpstreamMessage = z.infer<typeof UpstreamMessageSchema>;

/** A thread; `messages` only on `GET /threads/{id}`. */
export const UpstreamThreadSchema = z.object({
  thread_id: id,
  name: z.string().nullable().optional(),
  assistant_id: id.optional(),
  created_at: timestamp.optional(),
  metadata: ObjectRecordSchema.optional(),
  messages: z.array(UpstreamMessageSchema).optional(),
});
export type UpstreamThread = z.infer<typeof UpstreamThreadSchema>;

/** `GET /threads/{id}/messages`: a page (`has_more` defaults to false; a bare array is one page). */
export const UpstreamMessagesPageSchema = z.preprocess(
  (value) => (Array.isArray(value) ? { messages: value, has_more: false } : value),
  z.object({
    messages: z.array(UpstreamMessageSchema),
    has_more: z.boolean().default(false),
  }),
);

/** An uploaded file (`mime_type` in lists, `purpose` in upload responses). */
export const UpstreamFileSchema = z.object({
  file_id: id,
  filename: z.string().max(1024),
  size: z.number().int().nonnegative(),
  mime_type: z.string().max(255).optional(),
  purpose: z.string().max(64).optional(),
  uploaded_at: timestamp.optional(),
});

/** `GET /credits/balance`. */
export const UpstreamCreditsSchema = z.object({
  thread_counter: z.number().int().nonnegative(),
  thread_max: z.number().int().nonnegative(),
  threads_remaining: z.number().int().nonnegative().optional(),
  subscription_tier: z.string().max(64).optional(),
});
export type UpstreamCredits = z.infer<typeof UpstreamCreditsSchema>;

/** `GET /auth/thread-info`, without the account's email and user id (never read). */
export const UpstreamThreadInfoSchema = z.object({
  thread_counter: z.number().int().nonnegative(),
  thread_max: z.number().int().nonnegative(),
  subscription_tier: z.string().max(64).optional(),
});
export type UpstreamThreadInfo = z.infer<typeof UpstreamThreadInfoSchema>;

/** `PUT /db/{project}/{thread}/{key}`. */
export const UpstreamDbPutSchema = z.object({
  success: z.boolean(),
  key: z.string().optional(),
  value: z.unknown().optional(),
});
