import type { ZodType, z } from 'zod';
import { errorName } from '../log';
import {
  badResponse,
  DEFAULT_RETRY_AFTER_S,
  type FailureLog,
  logFailure,
  networkError,
  retryAfterFrom,
  timeoutError,
  translateStatus,
  unavailable,
} from './errors';
import { buildHeaders, buildUrl, discard, logPath, readSnippet, sleep, UpstreamCallError } from './http';
import { type SendOptions, type SendResult, sendUpstream } from './send';
import type { AccountConfig, TokenSource, UpstreamCall } from './types';

/** Retry policy for idempotent calls (GET, PUT, DELETE) on 429, 5xx and network errors. */
export interface RetryOptions {
  /** Retries after the first attempt (default 2). */
  maxRetries: number;
  /** Full-jitter backoff base: attempt n waits random(0, base·2ⁿ) ms (default 100). */
  baseDelayMs: number;
  /** No retry starts (or waits) past this many ms since the call began (default 3000). */
  maxTotalMs: number;
}

/** Options of one {@link UpstreamClient}; build one per incoming request. */
export interface UpstreamClientOptions {
  account: AccountConfig;
  tokens: TokenSource;
  /** Sent as `X-Request-Id` and written on every log line. */
  requestId: string;
  /** Per-attempt timeout (ms, default 10 000); for `stream()` it covers the headers only. */
  timeoutMs?: number;
  retry?: Partial<RetryOptions>;
  /** Called with every upstream response (e.g. to read `X-RateLimit-*`); must not consume it. */
  onResponse?: (res: Response) => void;
}

const IDEMPOTENT: ReadonlySet<UpstreamCall['method']> = new Set(['GET', 'PUT', 'DELETE']);

interface Mode {
  accept: string;
  retry: boolean;
  timeoutCovers: SendOptions['timeoutCovers'];
}

/**
 * The only code that calls the upstream API for requests: builds each request from
 * validated parts and an allow-list of headers, applies a timeout, retries idempotent calls
 * on 429/5xx/network errors (bounded, honouring `Retry-After`), replays once with a fresh
 * token on a 401 and translates every failure into an `ApiError` (src/errors.ts). One per request.
 */
export class UpstreamClient {
  readonly #account: AccountConfig;
  readonly #tokens: TokenSource;
  readonly #requestId: string;
  readonly #timeoutMs: number;
  readonly #retry: RetryOptions;
  readonly #onResponse: ((res: Response) => void) | undefined;
  #calls = 0;
  /** Fetches that asked the upstream to change something, and how many it refused. */
  #writes = 0;
  #writesRefused = 0;

  constructor(options: UpstreamClientOptions) {
    this.#account = options.account;
    this.#tokens = options.tokens;
    this.#requestId = options.requestId;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retry = {
      maxRetries: options.retry?.maxRetries ?? 2,
      baseDelayMs: options.retry?.baseDelayMs ?? 100,
      maxTotalMs: options.retry?.maxTotalMs ?? 3_000,
    };
    this.#onResponse = options.onResponse;
  }

  /** How many fetches this client made (retries and replays included). */
  get upstreamCalls(): number {
    return this.#calls;
  }

  /**
   * Whether any fetch that asked for a change (not a GET) may have made it: every one
   * not answered with a refusal (a non-2xx status) may have, timeouts and dropped
   * connections included. Budgets are given back only when this is false.
   */
  get mayHaveSpent(): boolean {
    return this.#writes > this.#writesRefused;
  }

  /**
   * A 2xx response with its body unread, or throws an `ApiError`. The timeout also covers
   * reading the body, so read it promptly. A caller abort (`call.signal`) rejects with its reason.
   */
  async request(call: UpstreamCall): Promise<Response> {
    const sent = await this.#run(call, {
      accept: 'application/json',
      retry: IDEMPOTENT.has(call.method),
      timeoutCovers: 'response',
    });
    return sent.res;
  }

  /**
   * A call whose answer has no body the gateway needs (e.g. `DELETE`): the body is
   * drained and the timeout cleared, so nothing holds the connection. Resolves to the
   * 2xx status, or throws an `ApiError`.
   */
  async send(call: UpstreamCall): Promise<number> {
    const sent = await this.#run(call, {
      accept: 'application/json',
      retry: IDEMPOTENT.has(call.method),
      timeoutCovers: 'response',
    });
    try {
      await discard(sent.res);
    } finally {
      sent.release();
    }
    return sent.res.status;
  }

  /** The response body parsed with `schema`; unparseable or mismatched JSON is a `502`. */
  async json<S extends ZodType>(call: UpstreamCall, schema: S): Promise<z.infer<S>> {
    const sent = await this.#run(call, {
      accept: 'application/json',
      retry: IDEMPOTENT.has(call.method),
      timeoutCovers: 'response',
    });
    let text: string;
    try {
      text = await sent.res.text();
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason ?? err;
      const timedOut = sent.timedOut();
      this.#fail(call, { outcome: timedOut ? 'timeout' : 'network', status: sent.res.status });
      throw timedOut ? timeoutError() : badResponse();
    } finally {
      sent.release();
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.#fail(call, { outcome: 'bad_body', status: sent.res.status, body: text });
      throw badResponse();
    }
    let parsed: z.ZodSafeParseResult<z.infer<S>>;
    try {
      parsed = schema.safeParse(raw);
    } catch (err) {
      // Validators recurse per level: JSON nested thousands deep overflows the stack.
      this.#fail(call, {
        outcome: 'bad_body',
        status: sent.res.status,
        body: `unvalidatable: ${errorName(err)}`,
      });
      throw badResponse();
    }
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`);
      this.#fail(call, { outcome: 'bad_body', status: sent.res.status, body: issues.join('; ') });
      throw badResponse();
    }
    return parsed.data;
  }

  /**
   * For the run stream: the 2xx response whose body the caller pipes. No retries; the 401
   * replay happens before anything is returned. The timeout covers the headers only, and
   * `call.signal` keeps cancelling the body after this resolves.
   */
  async stream(call: UpstreamCall): Promise<Response> {
    const sent = await this.#run(call, {
      accept: 'text/event-stream',
      retry: false,
      timeoutCovers: 'headers',
    });
    return sent.res;
  }

  async #run(call: UpstreamCall, mode: Mode): Promise<Extract<SendResult, { kind: 'response' }>> {
    const bodies = [call.json, call.form, call.stream].filter((body) => body !== undefined);
    if (bodies.length > 1) throw new UpstreamCallError('an upstream call has at most one body');
    const url = buildUrl(this.#account.baseUrl, call);
    const started = Date.now();
    let token = await this.#tokens.get(call.scope);
    let replayed = false;
    let retries = 0;
    const write = call.method !== 'GET';
    for (;;) {
      this.#calls += 1;
      if (write) this.#writes += 1;
      const sent = await sendUpstream(url, this.#init(call, mode, token), {
        timeoutMs: call.timeoutMs ?? this.#timeoutMs,
        signal: call.signal,
        timeoutCovers: mode.timeoutCovers,
      });
      if (sent.kind === 'timeout') {
        this.#fail(call, { outcome: 'timeout', attempts: retries + 1 });
        throw timeoutError();
      }
      if (sent.kind === 'network') {
        const delay =
          mode.retry && call.stream === undefined ? this.#retryDelay(retries, started) : undefined;
        if (delay === undefined) {
          this.#fail(call, { outcome: 'network', attempts: retries + 1 });
          throw networkError();
        }
        retries += 1;
        await sleep(delay, call.signal);
        continue;
      }
      const { res } = sent;
      this.#onResponse?.(res);
      if (res.ok) return sent;
      if (write) this.#writesRefused += 1;
      try {
        if (res.status === 401) {
          await discard(res);
          if (!replayed) {
            replayed = true;
            token = await this.#tokens.refresh(call.scope, token);
            // A streamed body went with the first attempt: the caller's retry takes the fresh token.
            if (call.stream === undefined) continue;
          }
          this.#fail(call, { outcome: 'auth', status: 401, attempts: retries + 1 });
          throw unavailable(DEFAULT_RETRY_AFTER_S);
        }
        if (res.status >= 300 && res.status < 400) {
          await discard(res);
          this.#fail(call, { outcome: 'redirect', status: res.status });
          throw badResponse();
        }
        if (mode.retry && call.stream === undefined && (res.status === 429 || res.status >= 500)) {
          const delay = this.#retryDelay(retries, started, retryAfterFrom(res.headers, res.status === 429));
          if (delay !== undefined) {
            await discard(res);
            retries += 1;
            await sleep(delay, call.signal);
            continue;
          }
        }
        const body = await readSnippet(res);
        this.#fail(call, { outcome: 'status', status: res.status, body, attempts: retries + 1 });
        throw translateStatus(res.status, res.headers, body, call.callerFields);
      } finally {
        sent.release();
      }
    }
  }

  #init(call: UpstreamCall, mode: Mode, token: string): RequestInit {
    const headers = buildHeaders({
      token,
      accept: mode.accept,
      json: call.json !== undefined,
      ...(call.stream ? { contentType: call.stream.contentType } : {}),
      requestId: this.#requestId,
    });
    const body = call.json !== undefined ? JSON.stringify(call.json) : (call.form ?? call.stream?.body);
    return { method: call.method, headers, body };
  }

  /**
   * The wait before retry number `retries + 1`, or undefined when the budget says stop:
   * `Retry-After` if the upstream sent one, else full jitter; never past `maxTotalMs`.
   */
  #retryDelay(retries: number, started: number, retryAfterS?: number): number | undefined {
    if (retries >= this.#retry.maxRetries) return undefined;
    const delay =
      retryAfterS !== undefined ? retryAfterS * 1000 : Math.random() * this.#retry.baseDelayMs * 2 ** retries;
    const remaining = this.#retry.maxTotalMs - (Date.now() - started);
    return delay <= remaining ? delay : undefined;
  }

  #fail(call: UpstreamCall, entry: Omit<FailureLog, 'requestId' | 'method' | 'path'>): void {
    logFailure({ requestId: this.#requestId, method: call.method, path: logPath(call), ...entry });
  }
}
