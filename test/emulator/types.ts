/** Shared types of the upstream emulator (state, knobs, counters). */

export type LineEnding = 'lf' | 'crlf' | 'cr';

export interface ToolCall {
  name: string;
  args: Record<string, unknown>;
}

export interface StreamKnobs {
  /** Delay between SSE events (ms). */
  pace_ms: number;
  /** Headers go out at once; the first body byte is held back this long (ms). */
  stall_before_first_byte_ms: number;
  /**
   * The response headers are held back this long (ms): `fetch()` has not resolved. The run is
   * recorded first (an upstream that began it and is slow to answer); an abort meanwhile is
   * `streams_cancelled` and nothing is sent.
   */
  delay_headers_ms: number;
  /** After this many SSE blocks, fail the stream (no `done`). null = never. */
  fail_after_events: number | null;
  /** How `fail_after_events` fails: `error` aborts the body (reader rejects), `close` ends it cleanly. */
  fail_mode: 'error' | 'close';
  line_ending: LineEnding;
  /** Write each SSE block in 3-4 chunks split at awkward byte offsets. */
  split_chunks: boolean;
  /** Add a comment, an `event:` line, a multi-line data event, a `usage` event and `data: [DONE]`. */
  extras: boolean;
  /** Raw strings written verbatim, one chunk each, instead of the generated stream. */
  raw: string[] | null;
}

export interface StatusOverride {
  method?: string;
  /** Exact path (`/threads/`, trailing slash optional) or a prefix ending in `*`. */
  path: string;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Apply this many times, then stop. Absent = forever. Counts down in `GET /__emulator/config`. */
  times?: number;
}

export type ListShape = 'array' | 'object';
export type TokenField = 'all' | 'access_token' | 'token' | 'jwt_token';

export interface Knobs {
  latency_ms: number;
  status_overrides: StatusOverride[];
  reject_logins: boolean;
  token_ttl_seconds: number;
  list_shape: ListShape;
  token_field: TokenField;
  /** Assistant reply text for runs; null = `Echo: <message>`. */
  reply: string | null;
  /** Tool calls emitted by runs; null = the default `lookup_order` call. */
  tool_calls: ToolCall[] | null;
  rate_limit_per_minute: number;
  stream: StreamKnobs;
}

/** What `POST /__emulator/config` accepts: any subset, `stream` merged one level deep. */
export type KnobsPatch = Partial<Omit<Knobs, 'stream'>> & { stream?: Partial<StreamKnobs> };

export interface RequestLogEntry {
  method: string;
  path: string;
  authorization: string | null;
  status: number;
}

export interface Stats {
  logins: number;
  login_failures: number;
  /** `"METHOD /route/pattern"` → count, e.g. `"GET /threads/:thread_id"`, `"POST /threads/"`. */
  requests: Record<string, number>;
  /** The last 2000 non-control requests. */
  request_log: RequestLogEntry[];
  tokens_issued: string[];
  streams_opened: number;
  streams_completed: number;
  streams_cancelled: number;
  /** Streams ended by `fail_after_events`. */
  streams_failed: number;
  runs: number;
  rate_limited: number;
}

export interface Account {
  email: string;
  password: string;
  user_id: string;
  subscription_tier: string;
  thread_counter: number;
  thread_max: number;
}

export interface Assistant {
  assistant_id: string;
  name: string;
  config: Record<string, unknown>;
  public: boolean;
  created_at: string;
}

export interface Message {
  message_id: string;
  role: string;
  content: string;
  timestamp: string;
}

export interface Thread {
  thread_id: string;
  name: string;
  assistant_id: string;
  metadata: Record<string, unknown>;
  configurable: Record<string, unknown>;
  created_at: string;
  messages: Message[];
  db: Record<string, unknown>;
}

export interface FileRecord {
  file_id: string;
  filename: string;
  size: number;
  mime_type: string;
  purpose: string;
  uploaded_at: string;
}

export interface Project {
  project_id: string;
  owner: string;
  name: string;
  description: string;
  metadata: Record<string, unknown>;
  created_at: string;
  assistants: Map<string, Assistant>;
  threads: Map<string, Thread>;
  files: Map<string, FileRecord>;
}

export interface TokenRecord {
  sub: string;
  scope: string;
  exp: number;
  revoked: boolean;
}

/** One signing key of the stand-in IdP (test/emulator/idp.ts). */
export interface IdpKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** The public JWK, as served. */
  jwk: Record<string, unknown>;
}

export interface IdpState {
  keys: IdpKey[];
  /** A document served instead of the generated keys; null: the generated ones. */
  served: Record<string, unknown> | null;
  mode: 'ok' | 'down' | 'bad';
  /** `Cache-Control: max-age` of the document (s). */
  max_age: number;
  /** `GET /.well-known/jwks.json` requests so far. */
  fetches: number;
}

export interface Universe {
  host: string;
  accounts: Map<string, Account>;
  projects: Map<string, Project>;
  tokens: Map<string, TokenRecord>;
  knobs: Knobs;
  stats: Stats;
  seq: number;
  /** The rate window: when it ends (epoch ms; 0: none yet) and the requests it has counted. */
  rate: { windowEnd: number; count: number };
  idp: IdpState;
}
