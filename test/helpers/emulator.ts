/**
 * Drives the upstream emulator (test/emulator) from tests: its control API and a few
 * upstream-client shortcuts. Inside the test pool every fetch() reaches the emulator,
 * whatever the host; each host is an isolated universe.
 */
import { z } from 'zod';
import { CANARY_EMAIL, CANARY_PASSWORD } from '../emulator/canaries';
import type { ReceivedCallback } from '../emulator/routes-callbacks';
import type { Account, Knobs, KnobsPatch, Stats } from '../emulator/types';
import { JsonObject, parseText } from './json';

export type { ReceivedCallback } from '../emulator/routes-callbacks';
export type { Knobs, KnobsPatch, Stats } from '../emulator/types';

// The control API's answers, checked against the emulator's own types (a field added
// there and not here fails to compile).
const StatusOverrideSchema = z.object({
  method: z.string().optional(),
  path: z.string(),
  status: z.number(),
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  times: z.number().optional(),
});
const KnobsSchema: z.ZodType<Knobs> = z.object({
  latency_ms: z.number(),
  status_overrides: z.array(StatusOverrideSchema),
  reject_logins: z.boolean(),
  token_ttl_seconds: z.number(),
  list_shape: z.enum(['array', 'object']),
  token_field: z.enum(['all', 'access_token', 'token', 'jwt_token']),
  reply: z.string().nullable(),
  tool_calls: z.array(z.object({ name: z.string(), args: z.record(z.string(), z.unknown()) })).nullable(),
  rate_limit_per_minute: z.number(),
  stream: z.object({
    pace_ms: z.number(),
    stall_before_first_byte_ms: z.number(),
    delay_headers_ms: z.number(),
    fail_after_events: z.number().nullable(),
    fail_mode: z.enum(['error', 'close']),
    line_ending: z.enum(['lf', 'crlf', 'cr']),
    split_chunks: z.boolean(),
    extras: z.boolean(),
    raw: z.array(z.string()).nullable(),
  }),
});
const StatsSchema: z.ZodType<Stats> = z.object({
  logins: z.number(),
  login_failures: z.number(),
  requests: z.record(z.string(), z.number()),
  request_log: z.array(
    z.object({
      method: z.string(),
      path: z.string(),
      authorization: z.string().nullable(),
      status: z.number(),
    }),
  ),
  tokens_issued: z.array(z.string()),
  streams_opened: z.number(),
  streams_completed: z.number(),
  streams_cancelled: z.number(),
  streams_failed: z.number(),
  runs: z.number(),
  rate_limited: z.number(),
});
const AccountViewSchema: z.ZodType<Omit<Account, 'password'>> = z.object({
  email: z.string(),
  user_id: z.string(),
  subscription_tier: z.string(),
  thread_counter: z.number(),
  thread_max: z.number(),
});
const CallbacksSchema: z.ZodType<{ callbacks: ReceivedCallback[] }> = z.object({
  callbacks: z.array(
    z.object({
      path: z.string(),
      headers: z.record(z.string(), z.string()),
      body: z.string(),
      status: z.number(),
      received_at: z.string(),
    }),
  ),
});
/** Login and project answers: the token is in one or more of three fields (`token_field`). */
const TokenFieldsSchema = z.object({
  access_token: z.string().optional(),
  token: z.string().optional(),
  jwt_token: z.string().optional(),
});

const StoredFileSchema = z.object({ file_id: z.string(), filename: z.string(), size: z.number() });
const StoredFilesSchema = z.union([
  z.array(StoredFileSchema),
  z.object({ files: z.array(StoredFileSchema) }),
]);

async function expectOk<S extends z.ZodType>(res: Response, what: string, schema: S): Promise<z.output<S>> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text}`);
  return parseText(text, schema);
}

export class EmulatorControl {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** The universe's host (what the emulator keys its state by). */
  get host(): string {
    return new URL(this.baseUrl).host;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private async control<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    return expectOk(await fetch(this.url(`/__emulator/${path}`), init), `emulator ${method} ${path}`, schema);
  }

  /** Restores the seed: data, knobs, tokens and counters. */
  async reset(): Promise<void> {
    await this.control('POST', 'reset', z.unknown());
  }

  /** Merges knobs (`stream` one level deep); resolves to the resulting knobs. */
  async configure(knobs: KnobsPatch): Promise<Knobs> {
    return this.control('POST', 'config', KnobsSchema, knobs);
  }

  /**
   * Sets the current rate window (after `rate_limit_per_minute`, which it is counted against):
   * `remaining` requests left, ending `reset_in_s` (default 60) from now.
   */
  async setRate(rate: { remaining: number; reset_in_s?: number }): Promise<void> {
    await this.control('POST', 'rate', z.unknown(), rate);
  }

  async config(): Promise<Knobs> {
    return this.control('GET', 'config', KnobsSchema);
  }

  async stats(): Promise<Stats> {
    return this.control('GET', 'stats', StatsSchema);
  }

  /** How many requests reached a route, by the key of `Stats.requests` (e.g. `"POST /threads/"`). */
  async requestCount(route: string): Promise<number> {
    return (await this.stats()).requests[route] ?? 0;
  }

  /** Invalidates every token issued so far; resolves to how many were still valid. */
  async revokeTokens(): Promise<number> {
    return (await this.control('POST', 'revoke-tokens', z.object({ revoked: z.number() }))).revoked;
  }

  /** Adjusts an account (default: the canary account), e.g. `{ thread_counter: 999 }`. */
  async setAccount(
    patch: Partial<Pick<Account, 'email' | 'thread_counter' | 'thread_max' | 'subscription_tier'>>,
  ): Promise<Omit<Account, 'password'>> {
    return this.control('POST', 'account', AccountViewSchema, patch);
  }

  /** Queues the statuses a callback sink path (`/__callbacks/…`) answers with, in order (then 200). */
  async setCallbackStatuses(path: string, statuses: number[]): Promise<void> {
    await this.control('POST', 'callbacks', z.unknown(), { path, statuses });
  }

  /** What the callback sink received on `path` (test/emulator/routes-callbacks.ts). */
  async callbacks(path: string): Promise<ReceivedCallback[]> {
    const query = `callbacks?path=${encodeURIComponent(path)}`;
    return (await this.control('GET', query, CallbacksSchema)).callbacks;
  }

  /**
   * The files the upstream stores for `projectId` (what an upload did or did not leave
   * behind). It logs in and lists, two upstream requests of its own: read it after a watch.
   */
  async storedFiles(projectId: string): Promise<z.output<typeof StoredFileSchema>[]> {
    const { projectToken: token } = await loginAndGetProjectToken(this.baseUrl, projectId);
    const res = await fetch(this.url('/files/'), { headers: bearer(token) });
    const body = await expectOk(res, 'GET /files/', StoredFilesSchema);
    return Array.isArray(body) ? body : body.files;
  }

  /** Polls the counters until `predicate` holds (default timeout 3 s). */
  async waitForStats(predicate: (s: Stats) => boolean, timeoutMs = 3000): Promise<Stats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (predicate(stats)) return stats;
      if (Date.now() > deadline) throw new Error(`emulator stats never matched: ${JSON.stringify(stats)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** An emulator handle on a host no other test uses. */
export function freshEmulator(prefix = 'u'): EmulatorControl {
  const id = crypto.randomUUID().replaceAll('-', '').slice(0, 12);
  return new EmulatorControl(`https://${prefix}${id}.emulator.test`);
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** `POST /auth/login` with the canary credentials; resolves to the account token. */
export async function login(
  baseUrl: string,
  email = CANARY_EMAIL,
  password = CANARY_PASSWORD,
): Promise<string> {
  const res = await fetch(`${baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = await expectOk(res, 'login', TokenFieldsSchema);
  const token = body.access_token ?? body.token ?? body.jwt_token;
  if (!token) throw new Error(`login: no token in ${JSON.stringify(body)}`);
  return token;
}

export async function projectToken(
  baseUrl: string,
  accountToken: string,
  projectId: string,
): Promise<string> {
  const res = await fetch(`${baseUrl}/projects/${projectId}`, { headers: bearer(accountToken) });
  const body = await expectOk(res, `GET /projects/${projectId}`, TokenFieldsSchema);
  const token = body.access_token ?? body.token ?? body.jwt_token;
  if (!token) throw new Error(`project: no token in ${JSON.stringify(body)}`);
  return token;
}

export async function loginAndGetProjectToken(
  baseUrl: string,
  projectId: string,
): Promise<{ accountToken: string; projectToken: string }> {
  const accountToken = await login(baseUrl);
  return { accountToken, projectToken: await projectToken(baseUrl, accountToken, projectId) };
}

/** `POST /threads/`; resolves to the new thread id. */
export async function createThread(
  baseUrl: string,
  token: string,
  assistantId = 'asst_support',
  name = 'test thread',
): Promise<string> {
  const res = await fetch(`${baseUrl}/threads/`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ name, assistant_id: assistantId }),
  });
  return (await expectOk(res, 'POST /threads/', z.object({ thread_id: z.string() }))).thread_id;
}

export interface SseMessage {
  event: string | undefined;
  data: string;
}

/** A spec-following SSE parser (CR, LF and CRLF line ends; comments; multi-line data). */
export function parseSse(text: string): SseMessage[] {
  const out: SseMessage[] = [];
  let data: string[] = [];
  let event: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) out.push({ event, data: data.join('\n') });
      data = [];
      event = undefined;
    } else if (!line.startsWith(':')) {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
  }
  return out;
}

/** The JSON events of an SSE text (skipping `[DONE]`). */
export function sseEvents(text: string): Record<string, unknown>[] {
  return parseSse(text)
    .filter((m) => m.data !== '[DONE]')
    .map((m) => parseText(m.data, JsonObject));
}

/** Reads a body to the end, keeping every chunk the way it arrived. */
export async function readChunks(res: Response): Promise<{ chunks: Uint8Array[]; text: string }> {
  const chunks: Uint8Array[] = [];
  const reader = res.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  }
  const text = new TextDecoder().decode(concat(chunks));
  return { chunks, text };
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
