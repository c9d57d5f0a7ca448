import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The machine-readable codes of the contract's error body. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'VALIDATION_ERROR'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'TOO_MANY_STREAMS'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_RATE_LIMITED'
  | 'UPSTREAM_TIMEOUT'
  | 'CONFIG_INVALID'
  | 'AUTH_UNAVAILABLE'
  | 'LIMITER_UNAVAILABLE'
  | 'QUEUE_UNAVAILABLE'
  | 'INTERNAL';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
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

  constructor(status: ContentfulStatusCode, code: ErrorCode, detail: string, options: ApiErrorOptions = {}) {
    super(`${status} ${code}: ${detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = options.field;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
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
