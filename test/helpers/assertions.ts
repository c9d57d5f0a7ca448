/**
 * Shared assertions of the integration tests: the contract's error body and headers,
 * "nothing upstream happened", "no secret came back" and which calls a tenant's state got.
 */
import { env } from 'cloudflare:workers';
import { expect, vi } from 'vitest';
import { z } from 'zod';
import {
  CANARY_EMAIL,
  CANARY_INSTRUCTIONS,
  CANARY_INTERNAL,
  CANARY_PASSWORD,
  CANARY_TOOL_ARG,
} from '../emulator/canaries';
import type { RequestLogEntry } from '../emulator/types';
import type { EmulatorControl } from './emulator';
import { type BodyLike, parseText } from './json';

/** The contract's error body (§5); `strictObject`: no key beyond these. */
export const ErrorBodySchema = z.strictObject({
  error: z.string(),
  detail: z.string(),
  code: z.string(),
  request_id: z.string(),
  field: z.string().optional(),
});
export type ErrorBody = z.output<typeof ErrorBodySchema>;

/** Fixed strings that must never reach a client (or, for the credentials, a log line). */
export const CANARIES = [
  CANARY_EMAIL,
  CANARY_PASSWORD,
  CANARY_INSTRUCTIONS,
  CANARY_INTERNAL,
  CANARY_TOOL_ARG,
  '_internal',
] as const;

/**
 * Asserts `res` is the contract's error: status, `code`, optional `field`, JSON content type,
 * `X-Request-Id` equal to the body's `request_id`, `Cache-Control: no-store`, exactly the
 * contract's keys (`field` only when one is expected) and no canary in the text. Resolves to
 * the body.
 */
export async function expectError(
  res: BodyLike,
  status: number,
  code: string,
  field?: string | RegExp,
): Promise<ErrorBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  expect(res.headers.get('cache-control')).toBe('no-store');
  expectNoSecrets(text);
  const body = parseText(text, ErrorBodySchema);
  const keys = ['code', 'detail', 'error', 'request_id', ...(field === undefined ? [] : ['field'])];
  expect(Object.keys(body).sort()).toEqual(keys.sort());
  expect(body).toMatchObject({ code, request_id: requestId });
  if (typeof field === 'string') expect(body.field).toBe(field);
  else if (field !== undefined) expect(body.field).toMatch(field);
  return body;
}

/** An error body without its per-request id, to compare two errors' shapes. */
export function withoutRequestId(body: ErrorBody): Omit<ErrorBody, 'request_id'> {
  const { request_id: _ignored, ...rest } = body;
  return rest;
}

/**
 * A JWT's shape: a base64url JSON header (`{"` encodes as `eyJ`), a dot, then more base64url.
 * The dot matters: a standard-base64 webhook signature may hold `eyJ` by chance (one in
 * ~260,000 positions) but never a dot, and that chance made CI red once.
 */
export const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+/;

/** Asserts `text` carries no canary, no JWT and none of `extra` (e.g. issued upstream tokens). */
export function expectNoSecrets(text: string, extra: readonly string[] = []): void {
  for (const canary of [...CANARIES, ...extra]) {
    expect(text.includes(canary), `response leaks ${canary.slice(0, 24)}`).toBe(false);
  }
  expect(text).not.toMatch(JWT_PATTERN);
}

/** Asserts the headers every authenticated JSON response carries. */
export function expectAuthenticatedHeaders(res: Pick<BodyLike, 'headers'>): void {
  expect(res.headers.get('x-request-id')).toBeTruthy();
  expect(res.headers.get('cache-control')).toBe('no-store');
}

/**
 * Watches the emulator's request log from now on, so a test can say what did (or did not)
 * reach the upstream. The log is per universe and tests in a file run one at a time.
 */
export async function watchUpstream(emulator: EmulatorControl) {
  const start = (await emulator.stats()).request_log.length;
  return {
    /** Every upstream request since the watch began. */
    async requests(): Promise<RequestLogEntry[]> {
      return (await emulator.stats()).request_log.slice(start);
    },
    /** Asserts nothing at all reached the upstream. */
    async expectNone(): Promise<void> {
      expect(await this.requests()).toEqual([]);
    },
    /** Asserts no upstream request had `id` for a path segment. */
    async expectNoneFor(id: string): Promise<void> {
      const hits = (await this.requests()).filter((r) => r.path.split('/').includes(id));
      expect(hits).toEqual([]);
    },
  };
}

/** Base64url of a JSON value (for hand-crafted tokens). */
export function b64urlJson(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Seconds since the epoch. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Records the name of every method called on a tenant's state object while `body` runs
 * (a spy on `env.TENANT_STATE.getByName` wrapping each stub it hands out); `body` sees
 * the calls so far.
 */
export async function tenantStateCalls(body: (calls: readonly string[]) => Promise<void>): Promise<string[]> {
  const calls: string[] = [];
  const namespace = env.TENANT_STATE;
  const real = namespace.getByName.bind(namespace);
  const spy = vi.spyOn(namespace, 'getByName').mockImplementation((name, options) => {
    const stub = real(name, options);
    return new Proxy(stub, {
      get: (target, key) => {
        const value = Reflect.get(target, key);
        if (typeof key !== 'string' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(key);
          return Reflect.apply(value, target, args);
        };
      },
    });
  });
  try {
    await body(calls);
  } finally {
    spy.mockRestore();
  }
  return calls;
}
