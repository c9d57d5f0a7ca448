import { z } from 'zod';
import { ApiError } from '../errors';
import { MAX_HORIZON_S, resetAtFrom } from '../limits/observations';
import { log } from '../log';
import { redact as redactText } from './redact';
import type { UpstreamCall } from './types';

/**
 * The one translation table from upstream outcomes to the contract's errors. Details are
 * fixed, safe strings: nothing the upstream wrote ever reaches a client. The raw body goes
 * to the log only, cut short and redacted ({@link redact}).
 */

/** Retry-After for failures where the upstream gave none but a retry may help (seconds). */
export const DEFAULT_RETRY_AFTER_S = 5;

/** How many characters of an upstream body the log keeps. */
const LOG_SNIPPET_CHARS = 300;

/**
 * Seconds to wait, from `Retry-After` (delta-seconds or an HTTP date), else (for a 429 only,
 * `rateLimited`) from `X-RateLimit-Reset` (epoch seconds, or milliseconds or a delta:
 * {@link resetAtFrom}) minus now. Clamped to an hour; undefined when unknown.
 */
export function retryAfterFrom(
  headers: Headers,
  rateLimited: boolean,
  now: number = Date.now(),
): number | undefined {
  const value = headers.get('Retry-After')?.trim();
  if (value) {
    if (/^\d+$/.test(value)) return clampSeconds(Number(value));
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return clampSeconds((date - now) / 1000);
  }
  const reset = rateLimited ? headers.get('X-RateLimit-Reset')?.trim() : undefined;
  if (reset && /^\d+(\.\d+)?$/.test(reset))
    return clampSeconds((resetAtFrom(Number(reset), now) - now) / 1000);
  return undefined;
}

function clampSeconds(seconds: number): number {
  return Math.min(MAX_HORIZON_S, Math.max(0, Math.ceil(seconds)));
}

/** The upstream's error body, as far as the table reads it: only a plain field name. */
const UpstreamErrorSchema = z.object({
  field: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
    .optional()
    .catch(undefined),
});

function fieldFrom(body: string): string | undefined {
  try {
    const parsed = UpstreamErrorSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.field : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Translates a non-2xx upstream response (its status, headers and body text) into the
 * contract's error; of the body only a plain `field` name is read, and only to match it
 * against `callerFields` (the call's {@link UpstreamCall.callerFields}). A 401 here means
 * the replay with a fresh token was refused too.
 */
export function translateStatus(
  status: number,
  headers: Headers,
  body = '',
  callerFields: readonly string[] = [],
  now: number = Date.now(),
): ApiError {
  const retryAfter = retryAfterFrom(headers, status === 429, now);
  switch (status) {
    // The gateway validated the caller's request before sending it, and builds the
    // upstream's request itself: an upstream 400/422 refuses what the gateway sent, not
    // what the caller did (a `field` it names is the upstream's vocabulary, e.g. `role`,
    // which no caller sends). So the upstream's answer is what is unusable (502); a 400
    // would tell the caller to fix input that has nothing wrong with it. The one
    // exception is a caller value only the upstream can judge (a message cursor), which
    // the call declares: a refusal naming it is the caller's 400, naming it.
    case 400:
    case 422: {
      const field = fieldFrom(body);
      if (field !== undefined && callerFields.includes(field)) {
        return new ApiError('VALIDATION_ERROR', `${field}: not accepted for this request.`, { field });
      }
      return badResponse();
    }
    case 401:
    case 403:
      return unavailable(retryAfter ?? DEFAULT_RETRY_AFTER_S);
    case 404:
      return new ApiError('NOT_FOUND', 'Not found.');
    case 429:
      return new ApiError('UPSTREAM_RATE_LIMITED', 'The upstream is over its rate limit.', {
        retryAfter: retryAfter ?? DEFAULT_RETRY_AFTER_S,
      });
    case 503:
      return unavailable(retryAfter);
    case 504:
      return timeoutError();
    default:
      return badResponse();
  }
}

/** `502`: the upstream answered with something unusable (bad JSON, a redirect, a 5xx, a 400, a 409). */
export function badResponse(): ApiError {
  return new ApiError('UPSTREAM_BAD_RESPONSE', 'The upstream returned an unusable response.');
}

/** `503`: the upstream is unreachable or refuses the gateway's account. */
export function unavailable(retryAfter?: number): ApiError {
  return new ApiError(
    'UPSTREAM_UNAVAILABLE',
    'The upstream is unavailable.',
    retryAfter === undefined ? {} : { retryAfter },
  );
}

/** `503` for a network failure (connection refused, reset, DNS). */
export function networkError(): ApiError {
  return unavailable(DEFAULT_RETRY_AFTER_S);
}

/** `504`: the upstream did not answer in time. */
export function timeoutError(): ApiError {
  return new ApiError('UPSTREAM_TIMEOUT', 'The upstream did not answer in time.');
}

/** Upstream text made safe for the log (src/upstream/redact.ts), cut to ~300 characters. */
export const redact = (text: string, max: number = LOG_SNIPPET_CHARS): string => redactText(text, max);

/** What the log says about one failed upstream call. Never carries a token or credential. */
export interface FailureLog {
  requestId: string;
  method: string;
  /** The upstream path (ids only: no query, no host). */
  path: string;
  status?: number;
  outcome: 'status' | 'redirect' | 'bad_body' | 'network' | 'timeout' | 'auth';
  body?: string;
  attempts?: number;
}

/** Logs an upstream failure with the body redacted and cut short. */
export function logFailure(entry: FailureLog): void {
  log('warn', 'upstream failure', {
    request_id: entry.requestId,
    method: entry.method,
    path: entry.path,
    status: entry.status,
    outcome: entry.outcome,
    attempts: entry.attempts,
    upstream_body: entry.body === undefined ? undefined : redact(entry.body),
  });
}
