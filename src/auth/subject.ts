import { z } from 'zod';

/**
 * An end user's id: a session or IdP token's `sub`, and a webhook's `subject` (the user its
 * run acts as). One schema, so a webhook can name exactly the users a token can be.
 */

/** The prefix of the gateway's own users (the webhook default `edge:automation`). */
export const RESERVED_PREFIX = 'edge:';

// C0 and C1 controls (`\p{Cc}`: U+0000-001F, U+007F-009F) and, in a `u` pattern, surrogates
// not part of a pair (`\p{Cs}`): such an id would reach admin paths, audit rows and CSV
// exports, and a lone surrogate is not even valid UTF-8.
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;

/**
 * 1-128 Unicode code points (zod's `min`/`max` count code points, not UTF-16 units; a
 * test pins that), with none of: a control character, a lone surrogate, only whitespace
 * (as `trim()` counts it; spaces inside are fine), the `edge:` prefix (but `except`, one
 * of the gateway's own users a caller may name), or `.`/`..` (path segments every URL
 * parser removes, so the operator could not name such a user in the admin API's
 * `/users/{sub}/...`).
 */
export function userIdSchema(except?: string) {
  return z
    .string()
    .min(1)
    .max(128)
    .refine((sub) => !UNPRINTABLE.test(sub), 'must not hold control characters or lone surrogates')
    .refine((sub) => sub.trim() !== '', 'must not be only whitespace')
    .refine(
      (sub) => sub === except || !sub.startsWith(RESERVED_PREFIX),
      'must not start with edge: (the gateway’s own users)',
    )
    .refine((sub) => sub !== '.' && sub !== '..', 'not . or ..');
}

/** A token's `sub`: never one of the gateway's own users. */
export const SubjectSchema = userIdSchema();
