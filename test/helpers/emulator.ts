/**
 * Drives the upstream emulator (test/emulator) from tests: its control API and a few
 * upstream-client shortcuts. Inside the test pool every fetch() reaches the emulator,
 * whatever the host; each host is an isolated universe.
 */
import { CANARY_EMAIL, CANARY_PASSWORD } from '../emulator/canaries';
import type { ReceivedCallback } from '../emulator/routes-callbacks';
import type { Account, Knobs, KnobsPatch, Stats } from '../emulator/types';

export type { ReceivedCallback } from '../emulator/routes-callbacks';
export type { Knobs, KnobsPatch, Stats } from '../emulator/types';

async function expectOk(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
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

  private async control(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    return expectOk(await fetch(this.url(`/__emulator/${path}`), init), `emulator ${method} ${path}`);
  }

  /** Restores the seed: data, knobs, tokens and counters. */
  async reset(): Promise<void> {
    await this.control('POST', 'reset');
  }

  /** Merges knobs (`stream` one level deep); resolves to the resulting knobs. */
  async configure(knobs: KnobsPatch): Promise<Knobs> {
    return (await this.control('POST', 'config', knobs)) as Knobs;
  }

  async config(): Promise<Knobs> {
    return (await this.control('GET', 'config')) as Knobs;
  }

  async stats(): Promise<Stats> {
    return (await this.control('GET', 'stats')) as Stats;
  }

  /** Invalidates every token issued so far; resolves to how many were still valid. */
  async revokeTokens(): Promise<number> {
    return ((await this.control('POST', 'revoke-tokens')) as { revoked: number }).revoked;
  }

  /** Adjusts an account (default: the canary account), e.g. `{ thread_counter: 999 }`. */
  async setAccount(
    patch: Partial<Pick<Account, 'email' | 'thread_counter' | 'thread_max' | 'subscription_tier'>>,
  ): Promise<Omit<Account, 'password'>> {
    return (await this.control('POST', 'account', patch)) as Omit<Account, 'password'>;
  }

  /** Queues the statuses a callback sink path (`/__callbacks/…`) answers with, in order (then 200). */
  async setCallbackStatuses(path: string, statuses: number[]): Promise<void> {
    await this.control('POST', 'callbacks', { path, statuses });
  }

  /** What the callback sink received on `path` (test/emulator/routes-callbacks.ts). */
  async callbacks(path: string): Promise<ReceivedCallback[]> {
    const body = (await this.control('GET', `callbacks?path=${encodeURIComponent(path)}`)) as {
      callbacks: ReceivedCallback[];
    };
    return body.callbacks;
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
  const body = (await expectOk(res, 'login')) as Record<string, string>;
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
  const body = (await expectOk(res, `GET /projects/${projectId}`)) as Record<string, string>;
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
  return ((await expectOk(res, 'POST /threads/')) as { thread_id: string }).thread_id;
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
    .map((m) => JSON.parse(m.data) as Record<string, unknown>);
}

/** Reads a body to the end, keeping every chunk as it arrived. */
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
