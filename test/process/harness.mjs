// The black-box harness of test/process/: the Worker as a process (bundled the
// production way, served by `workerd serve`) in front of the project's emulator (a
// Node server), both on free ports of 127.0.0.1. What the vitest pool cannot see
// (what workerd does after a caller hangs up, a body that never arrives) is seen here
// from outside, through HTTP and the emulator's control API only.
//
// A test file starts one stack in `before` and stops it in `after`; every child
// process is also killed when the file's process exits or is signalled, and
// `npm run test:process` (run.mjs) kills the whole process group at the end.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintSessionToken } from '../../scripts/demo.mjs';
import { EMULATOR_EMAIL, EMULATOR_PASSWORD, startEmulator } from '../../scripts/lib/emulator.mjs';
import { killChildrenOnExit } from '../../scripts/lib/procs.mjs';
import { serveBundle } from '../../scripts/lib/worker.mjs';
import { readWorkerDecl } from '../../scripts/lib/workerd-config.mjs';
import { build, PREBUILT_ENV, PROCESS_DIR, WRANGLER_CONFIG } from './build.mjs';

export { PROCESS_DIR } from './build.mjs';

/** No single request of a test may hang the run. */
const REQUEST_TIMEOUT_MS = 10_000;

killChildrenOnExit({ label: 'test:process' });

/**
 * @typedef {import('./build.mjs').Build} Build
 * @typedef {Record<string, unknown>} TenantConfig one entry of the TENANTS secret
 * @typedef {{ status: number, headers: Headers, text: string, json: * }} Answer
 * @typedef {{ id: string | undefined, event: string, data: string, json: * }} SseEvent
 */

/** @type {Promise<Build> | undefined} */
let building;
/** run.mjs's build when there is one, else (a test file run on its own) a fresh one. */
function ensureBuild() {
  const prebuilt = process.env[PREBUILT_ENV];
  if (prebuilt && existsSync(path.join(prebuilt, 'build.json'))) {
    return Promise.resolve(
      /** @type {Build} */ (JSON.parse(readFileSync(path.join(prebuilt, 'build.json'), 'utf8'))),
    );
  }
  building ??= build();
  return building;
}

/**
 * A tenant entry with the emulator's seeded project and assistant, a fresh session
 * secret and rate limits out of the way (a test names the limits it is about).
 * @param {{ limits?: Record<string, number> } & TenantConfig} [overrides]
 * @returns {TenantConfig}
 */
export function tenantConfig(overrides = {}) {
  const { limits = {}, ...rest } = overrides;
  return {
    project_id: 'proj_acme',
    session_secret: `process-test-${randomBytes(24).toString('hex')}`,
    assistants: ['asst_support'],
    ...rest,
    limits: { requests_per_minute: 10_000, burst: 10_000, tenant_requests_per_minute: 100_000, ...limits },
  };
}

/**
 * Starts the emulator and the Worker for one test file.
 * @param {{ name: string, tenants: Record<string, TenantConfig>, vars?: Record<string, string>,
 *   knobs?: Record<string, unknown> }} opts `name` names the log folder (`.tmp/process/<name>/`);
 *   `vars` are extra text bindings (var overrides); `knobs` the emulator's first config
 * @returns {Promise<Stack>}
 */
export async function startStack(opts) {
  const workDir = path.join(PROCESS_DIR, opts.name);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const { outdir, emulatorScript } = await ensureBuild();
  const stack = new Stack(workDir, opts.tenants);
  try {
    const emulator = await startEmulator({
      logDir: workDir,
      script: emulatorScript,
      knobs: { rate_limit_per_minute: 100_000_000, ...opts.knobs },
    });
    stack.stoppers.push(emulator.stop);
    stack.emulator = new Emulator(emulator.url);
    // Fresh Durable Object state per stack, inside the stack's folder: the next run's
    // start removes whatever a killed run left behind.
    // The D1 registry's stand-in keeps its database there too (scripts/lib/d1-local.worker.js).
    const storageDir = path.join(workDir, 'do-storage');
    stack.stoppers.push(async () => rmSync(storageDir, { recursive: true, force: true }));
    const decl = await readWorkerDecl(WRANGLER_CONFIG);
    const bindings = {
      EPSIMO_BASE_URL: emulator.url,
      EPSIMO_EMAIL: EMULATOR_EMAIL,
      EPSIMO_PASSWORD: EMULATOR_PASSWORD,
      TENANTS: JSON.stringify(opts.tenants),
      ADMIN_KEY_HASHES: createHash('sha256').update(stack.adminKey).digest('hex'),
      ...opts.vars,
    };
    stack.serve = () => serveBundle({ service: 'edge', outdir, decl, bindings, storageDir, workDir });
    stack.stoppers.push(() => stack.worker?.stop() ?? Promise.resolve());
    await stack.startWorker();
    return stack;
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

/** One running emulator + Worker pair, and the clients a test needs against them. */
export class Stack {
  /** @param {string} workDir @param {Record<string, TenantConfig>} tenants */
  constructor(workDir, tenants) {
    this.workDir = workDir;
    this.tenants = tenants;
    /** The Worker's origin, `http://127.0.0.1:<port>`. */
    this.url = '';
    /** workerd's output (with --verbose: the Worker's logs and uncaught exceptions). */
    this.logFile = '';
    /** The `workerd serve` process's id (its memory is read from /proc/<pid>/status). */
    this.workerPid = /** @type {number | undefined} */ (undefined);
    /** @type {Emulator} */
    this.emulator = new Emulator('http://127.0.0.1:9');
    /** @type {(() => Promise<void>)[]} run in reverse order by stop() */
    this.stoppers = [];
    /** @type {Set<{ destroy: () => void }>} connections a test opened: closed by stop() */
    this.open = new Set();
    this.stopped = false;
    /** The operator key of this stack (its SHA-256 is the Worker's `ADMIN_KEY_HASHES`). */
    this.adminKey = `eek_${randomBytes(24).toString('base64url')}`;
    /** @type {(() => ReturnType<typeof serveBundle>) | undefined} starts workerd on the stack's storage */
    this.serve = undefined;
    /** @type {Awaited<ReturnType<typeof serveBundle>> | undefined} the running workerd */
    this.worker = undefined;
  }

  /** Starts workerd (on the stack's Durable Object and D1 storage, which outlive it). */
  async startWorker() {
    if (!this.serve) throw new Error('the stack has no worker to start');
    this.worker = await this.serve();
    this.url = this.worker.url;
    this.workerPid = this.worker.pid;
    this.logFile = this.worker.logFile;
  }

  /**
   * Stops the workerd process (SIGTERM, then SIGKILL) and starts a new one on the same
   * storage and a new port: every Durable Object and isolate starts afresh from disk.
   */
  async restartWorker() {
    for (const conn of this.open) conn.destroy();
    this.open.clear();
    await this.worker?.stop();
    await this.startWorker();
  }

  /**
   * One admin API call (`/admin/v1<route>`) with this stack's operator key (or `key`;
   * `false`: none), read to the end.
   * @param {string} method @param {string} route
   * @param {{ json?: unknown, key?: string | false, headers?: Record<string, string> }} [opts]
   * @returns {Promise<Answer>}
   */
  admin(method, route, opts = {}) {
    const key = opts.key ?? this.adminKey;
    const headers = { ...(key === false ? {} : { authorization: `Bearer ${key}` }), ...opts.headers };
    return this.request(method, `/admin/v1${route}`, { json: opts.json, headers });
  }

  /** Stops everything this stack started; safe to call twice and after a failed start. */
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const conn of this.open) conn.destroy();
    this.open.clear();
    for (const stop of this.stoppers.reverse()) await stop().catch(() => undefined);
  }

  /** The last lines of workerd's log, for failure messages. */
  logTail(lines = 20) {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no workerd log)';
    }
  }

  /**
   * A session token of `tenant` for the end user `sub` (HS256 with its session_secret).
   * @param {string} tenant @param {string} sub
   */
  token(tenant, sub) {
    // A tenant the test created through the admin API is added to `tenants` by the test.
    const secret = this.tenants[tenant]?.session_secret;
    if (typeof secret !== 'string') throw new Error(`no tenant ${tenant} in this stack`);
    return mintSessionToken(secret, tenant, sub, 3600);
  }

  /**
   * One request to the Worker, read to the end.
   * @param {string} method @param {string} route e.g. `/v1/usage`
   * @param {{ as?: [tenant: string, sub: string], json?: unknown, headers?: Record<string, string> }} [opts]
   *   `as`: send a session token of that tenant and user
   * @returns {Promise<Answer>}
   */
  async request(method, route, opts = {}) {
    const headers = { ...(await this.authHeaders(opts.as)), ...opts.headers };
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return answer(res);
  }

  /**
   * `POST /v1/threads` as `tenant`/`sub`; resolves to the new thread's id.
   * @param {string} tenant @param {string} sub
   */
  async createThread(tenant, sub) {
    const res = await this.request('POST', '/v1/threads', { as: [tenant, sub], json: {} });
    if (res.status !== 201 || typeof res.json?.thread_id !== 'string') {
      throw new Error(`POST /v1/threads as ${tenant}/${sub}: ${describe(res)}`);
    }
    return /** @type {string} */ (res.json.thread_id);
  }

  /**
   * `GET /v1/usage` as `tenant`/`sub` (the JSON, or an error with the answer).
   * @param {string} tenant @param {string} sub
   */
  async usage(tenant, sub) {
    const res = await this.request('GET', '/v1/usage', { as: [tenant, sub] });
    if (res.status !== 200) throw new Error(`GET /v1/usage as ${tenant}/${sub}: ${describe(res)}`);
    return res.json;
  }

  /**
   * Opens an event stream on its own connection (node:http, no keep-alive), so that
   * `abort()` closes the TCP connection the way a closed browser tab does.
   * @param {string} method @param {string} route
   * @param {{ as?: [tenant: string, sub: string], json?: unknown, headers?: Record<string, string> }} [opts]
   * @returns {Promise<SseStream>} once the response's headers are in (any status)
   */
  async openStream(method, route, opts = {}) {
    const headers = { accept: 'text/event-stream', ...(await this.authHeaders(opts.as)), ...opts.headers };
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const stream = await SseStream.open(`${this.url}${route}`, { method, headers, body });
    this.open.add(stream);
    stream.closed.then(() => this.open.delete(stream));
    return stream;
  }

  /**
   * Sends a request and, once `when` resolves (before any answer), resets its connection
   * (TCP RST, as a browser's cancelled request reaches a Worker: workerd serve takes a
   * peer's half-close (FIN) for a client still reading, and notices it only at a write).
   * @param {string} method @param {string} route
   * @param {{ as?: [tenant: string, sub: string], json?: unknown, when: Promise<unknown> }} opts
   * @returns {Promise<{ answered: boolean }>} whether response headers came before the reset
   */
  async hangUpBeforeAnswer(method, route, opts) {
    const headers = { ...(await this.authHeaders(opts.as)) };
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = http.request(`${this.url}${route}`, { method, headers, agent: false });
    let answered = false;
    req.once('response', () => {
      answered = true;
    });
    req.on('error', () => undefined);
    this.open.add(req);
    req.end(body);
    await opts.when;
    req.socket?.resetAndDestroy();
    req.destroy();
    this.open.delete(req);
    return { answered };
  }

  /**
   * `POST /v1/threads/{threadId}/run` (streaming) as `tenant`/`sub`.
   * @param {string} tenant @param {string} sub @param {string} threadId
   * @param {string} [message]
   */
  run(tenant, sub, threadId, message = 'hello') {
    return this.openStream('POST', `/v1/threads/${threadId}/run`, { as: [tenant, sub], json: { message } });
  }

  /**
   * A raw TCP connection to the Worker, for requests no HTTP client sends (a body that
   * stops half-way). Resolves once connected; stop() destroys it.
   * @returns {Promise<RawConnection>}
   */
  async connect() {
    const { port } = new URL(this.url);
    const conn = await RawConnection.open(Number(port));
    this.open.add(conn);
    conn.closed.then(() => this.open.delete(conn));
    return conn;
  }

  /** @param {[tenant: string, sub: string] | undefined} as @returns {Promise<Record<string, string>>} */
  async authHeaders(as) {
    return as ? { authorization: `Bearer ${await this.token(...as)}` } : {};
  }
}

/** The emulator's control API (test/emulator/routes-control.ts). */
export class Emulator {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
  }

  /** @param {'GET' | 'POST'} method @param {string} route @param {unknown} [body] */
  async control(method, route, body) {
    const res = await fetch(`${this.url}/__emulator/${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator ${method} /__emulator/${route}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** Merges knobs (`stream` one level deep), e.g. `{ stream: { pace_ms: 500 } }`. */
  configure(/** @type {Record<string, unknown>} */ knobs) {
    return this.control('POST', 'config', knobs);
  }

  /**
   * The counters: `streams_opened`, `streams_completed`, `streams_cancelled`, `runs`,
   * `requests` (`"METHOD /route"` → count), ...
   */
  stats() {
    return this.control('GET', 'stats');
  }

  /** The canary account (what the Worker logs in as): `thread_counter`, `thread_max`, ... */
  account() {
    return this.control('POST', 'account', {});
  }
}

/** An event stream read one event at a time; `abort()` hangs up. */
export class SseStream {
  /**
   * @param {string} url
   * @param {{ method: string, headers: Record<string, string>, body: string | undefined }} init
   * @returns {Promise<SseStream>}
   */
  static open(url, init) {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: init.method, headers: init.headers, agent: false });
      const timer = setTimeout(
        () => req.destroy(new Error(`no response headers in ${REQUEST_TIMEOUT_MS} ms`)),
        REQUEST_TIMEOUT_MS,
      );
      req.once('response', (res) => {
        clearTimeout(timer);
        resolve(new SseStream(req, res));
      });
      req.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(init.body);
    });
  }

  /** @param {http.ClientRequest} req @param {http.IncomingMessage} res */
  constructor(req, res) {
    this.req = req;
    this.status = res.statusCode ?? 0;
    this.contentType = String(res.headers['content-type'] ?? '');
    this.headers = res.headers;
    /** The whole body when it is not an event stream (an error answer), else ''. */
    this.text = '';
    /** @type {SseEvent[]} */
    this.queue = [];
    /** @type {((event: SseEvent | null) => void)[]} */
    this.waiters = [];
    this.ended = false;
    this.pings = 0;
    let buffer = '';
    /** @type {Partial<SseEvent> & { data?: string }} */
    let current = {};
    const dispatch = () => {
      if (current.data !== undefined) {
        const data = current.data;
        /** @type {*} */
        let json;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        this.push({ id: current.id, event: current.event ?? 'message', data, json });
      }
      current = {};
    };
    res.setEncoding('utf8');
    res.on('data', (/** @type {string} */ chunk) => {
      if (!this.isEventStream) {
        this.text += chunk;
        return;
      }
      buffer += chunk;
      // One line at a time: LF, CRLF or CR end a line (a CR at the very end may be half a CRLF).
      for (let m = /\r\n|\r(?!$)|\n/.exec(buffer); m; m = /\r\n|\r(?!$)|\n/.exec(buffer)) {
        const line = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        if (line === '') dispatch();
        else if (line.startsWith(':')) this.pings += 1;
        else {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data')
            current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'event') current.event = value;
          else if (field === 'id') current.id = value;
        }
      }
    });
    /** Resolves when the response has ended or the connection is gone, whichever first. */
    this.closed = new Promise((resolve) => {
      const end = () => {
        if (this.ended) return;
        this.ended = true;
        for (const waiter of this.waiters.splice(0)) waiter(null);
        resolve(undefined);
      };
      res.once('end', end);
      res.once('close', end);
      res.once('error', end);
      req.once('close', end);
    });
  }

  /** Whether the answer is `200 text/event-stream`. */
  get isEventStream() {
    return this.status === 200 && this.contentType.startsWith('text/event-stream');
  }

  /** @param {SseEvent} event */
  push(event) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(event);
    else this.queue.push(event);
  }

  /**
   * The next event, or null once the stream has ended.
   * @param {number} [timeoutMs] rejects when no event comes in that long
   * @returns {Promise<SseEvent | null>}
   */
  next(timeoutMs = REQUEST_TIMEOUT_MS) {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no event in ${timeoutMs} ms`));
      }, timeoutMs);
      /** @param {SseEvent | null} event */
      const waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
      this.waiters.push(waiter);
    });
  }

  /** Hangs up: the TCP connection is destroyed at once, mid-stream. */
  abort() {
    this.req.destroy();
    return this.closed;
  }

  /** Same as abort(), for Stack.stop(). */
  destroy() {
    this.req.destroy();
  }
}

/** A raw TCP connection: write bytes when the test says so, read whatever comes back. */
export class RawConnection {
  /** @param {number} port @returns {Promise<RawConnection>} */
  static open(port) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setTimeout(REQUEST_TIMEOUT_MS * 6, () => socket.destroy());
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** @param {net.Socket} socket */
  constructor(socket) {
    this.socket = socket;
    /** Everything received so far (an HTTP answer, if any came). */
    this.received = '';
    socket.setEncoding('utf8');
    socket.on('data', (/** @type {string} */ chunk) => {
      this.received += chunk;
    });
    socket.on('error', () => undefined);
    this.isClosed = false;
    /** Resolves when the connection is closed by either side. */
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        resolve(undefined);
      });
    });
  }

  /** Writes and resolves once the bytes are handed to the kernel. @param {string} text */
  write(text) {
    return new Promise((resolve, reject) =>
      this.socket.write(text, (error) => (error ? reject(error) : resolve(undefined))),
    );
  }

  destroy() {
    this.socket.destroy();
  }
}

/**
 * Calls `probe` until `done(value)` holds or `timeoutMs` passes; resolves to the last
 * value either way (the test asserts on it, so a failure shows what was seen).
 * @template T
 * @param {() => Promise<T>} probe @param {(value: T) => boolean} done
 * @param {{ timeoutMs: number, intervalMs?: number }} opts
 * @returns {Promise<{ value: T, ok: boolean, ms: number }>}
 */
export async function poll(probe, done, opts) {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    const ms = Date.now() - started;
    if (done(value)) return { value, ok: true, ms };
    if (ms >= opts.timeoutMs) return { value, ok: false, ms };
    await sleep(opts.intervalMs ?? 50);
  }
}

/** @param {Response} res @returns {Promise<Answer>} */
async function answer(res) {
  const text = await res.text();
  /** @type {*} */
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A short description of an answer for assertion messages. @param {{ status: number, text: string }} res */
export function describe(res) {
  return `HTTP ${res.status} ${res.text.slice(0, 300)}`;
}

/**
 * The body `DefaultChatTransport` posts for one new message of chat `id`.
 * @param {string} id @param {string} text
 */
export function chatBody(id, text) {
  return {
    id,
    messages: [{ id: randomUUID(), role: 'user', parts: [{ type: 'text', text }] }],
    trigger: 'submit-message',
  };
}

/** Frames of a chat's UI stream until the first text-delta (the answer is under way), or null. @param {SseStream} stream */
export async function untilText(stream) {
  for (let frame = await stream.next(); frame; frame = await stream.next()) {
    if (frame.json?.type === 'text-delta') return frame;
  }
  return null;
}
