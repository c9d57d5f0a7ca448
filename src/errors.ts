import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The contract's error codes, each bound to its one HTTP status and to whether a
 * background job (a webhook run) should try again later. `new ApiError(code, …)` takes
 * its status from here, so a wrong status/code pair cannot be written.
 */
const ERRORS = {
  BAD_REQUEST: { status: 400, retry: false },
  VALIDATION_ERROR: { status: 400, retry: false },
  UNAUTHORIZED: { status: 401, retry: false },
  // The operator blocked this end user (admin API); only the operator lets them back in.
  USER_BLOCKED: { status: 403, retry: false },
  NOT_FOUND: { status: 404, retry: false },
  METHOD_NOT_ALLOWED: { status: 405, retry: false },
  REQUEST_TIMEOUT: { status: 408, retry: false },
  IDEMPOTENCY_CONFLICT: { status: 409, retry: false },
  // Another run of the thread is in progress: a later attempt may find the thread free.
  RUN_IN_PROGRESS: { status: 409, retry: true },
  RUN_CANCELLED: { status: 409, retry: false },
  RESUME_GONE: { status: 410, retry: false },
  PAYLOAD_TOO_LARGE: { status: 413, retry: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retry: false },
  RATE_LIMITED: { status: 429, retry: true },
  // Frees only when a thread is deleted: waiting a few minutes does not help.
  QUOTA_EXCEEDED: { status: 429, retry: false },
  TOO_MANY_STREAMS: { status: 429, retry: true },
  // Resets at the window's end (UTC midnight or month end): past any retry's reach.
  BUDGET_EXCEEDED: { status: 429, retry: false },
  UPSTREAM_BAD_RESPONSE: { status: 502, retry: true },
  UPSTREAM_UNAVAILABLE: { status: 503, retry: true },
  UPSTREAM_RATE_LIMITED: { status: 503, retry: true },
  CONFIG_INVALID: { status: 503, retry: true },
  AUTH_UNAVAILABLE: { status: 503, retry: true },
  ACCOUNT_EXHAUSTED: { status: 503, retry: true },
  RUN_LOST: { status: 503, retry: true },
  LIMITER_UNAVAILABLE: { status: 503, retry: true },
  QUEUE_UNAVAILABLE: { status: 503, retry: true },
  REGISTRY_UNAVAILABLE: { status: 503, retry: true },
  UPSTREAM_TIMEOUT: { status: 504, retry: true },
  INTERNAL: { status: 500, retry: true },
} as const satisfies Record<string, { status: ContentfulStatusCode; retry: boolean }>;

/** The machine-readable codes of the contract's error body. */
export type ErrorCode = keyof typeof ERRORS;

/** The HTTP status of `code`. */
export const statusOf = (code: ErrorCode): ContentfulStatusCode => ERRORS[code].status;

/** Whether a background job refused with `code` should be tried again later. */
export const retryable = (code: ErrorCode): boolean => ERRORS[code].retry;

const TITLES: Partial<Record<ContentfulStatusCode, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface ApiErrorOptions {
  /** The request field at fault (400s). */
  field?: string;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
  /** Extra response headers (e.g. `RateLimit`). */
  headers?: Record<string, string>;
}

/**
 * An error the client may see. Its `detail` is written for the caller and must never
 * carry upstream text, tokens or internals; everything else becomes a generic 500.
 */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly field: string | undefined;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail: string, options: ApiErrorOptions = {}) {
    const status = statusOf(code);
    super(`${status} ${code}: ${detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = options.field;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
  }

  /** The same error with more response headers (e.g. the `RateLimit` pair). */
  withHeaders(headers: Record<string, string>): ApiError {
    const options: ApiErrorOptions = { headers: { ...this.headers, ...headers } };
    if (this.field !== undefined) options.field = this.field;
    if (this.retryAfter !== undefined) options.retryAfter = this.retryAfter;
    return new ApiError(this.code, this.detail, options);
  }
}

/** The contract's error body. */
export interface ErrorBody {
  error: string;
  detail: string;
  code: ErrorCode;
  request_id: string;
  field?: string;
}

/** Builds the error body for `err`, tagged with the request id. */
export function errorBody(err: ApiError, requestId: string): ErrorBody {
  const body: ErrorBody = {
    error: TITLES[err.status] ?? 'Error',
    detail: err.detail,
    code: err.code,
    request_id: requestId,
  };
  if (err.field !== undefined) body.field = err.field;
  return body;
}

/** Renders `err` as the contract's JSON error response. */
export function errorResponse(c: Context, err: ApiError): Response {
  const requestId: string = c.get('requestId') ?? 'unknown';
  const headers: Record<string, string> = { ...err.headers, 'Cache-Control': 'no-store' };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(err.retryAfter)));
  return c.json(errorBody(err, requestId), err.status, headers);
}
