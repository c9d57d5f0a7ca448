import type { Config } from '../config';
import type { ErrorCode } from '../errors';
import type { SpendMark } from '../limits/windows';
import type { RelayEvent } from '../stream/events';
import type { Tenant } from '../tenant';

/** A run's state: `running` until its final event, then how it ended. */
export type RunStatus = 'running' | 'done' | 'error' | 'cancelled';

/** A run as the API shows it (`GET .../runs/{run_id}`). */
export interface RunView {
  run_id: string;
  thread_id: string;
  status: RunStatus;
  created_at: string;
  ended_at?: string;
  error?: { code: string; detail: string };
}

/**
 * The settings a run is read with, sent by the Worker that starts it (the object reads
 * no configuration of its own: the run follows the request's).
 */
export type RunConfig = Pick<Config, 'upstream' | 'stream' | 'runs'>;

/** Whose runs on which thread a call is about (a runs object holds many threads). */
export interface RunAddress {
  threadId: string;
  user: string;
}

/** What makes a start request a retry: the run its key or re-posted resume point names. */
export interface RetryNames {
  /** `Idempotency-Key` (scoped to the user), with the hash of what it was sent with. */
  idempotency?: { key: string; bodyHash: string };
  /** A `Last-Event-ID` the caller re-posted: attach to that run after event `after`. */
  resume?: ResumePoint;
}

/** The retained run a retry names (attach after `after`), or its key sent with another message. */
export type NamedRun = { kind: 'run'; runId: string; after: number } | { kind: 'conflict' };

/** What a Worker asks of a thread's runs object to start (or attach to) a run. */
export interface StartRun extends RunAddress, RetryNames {
  config: RunConfig;
  tenant: Pick<Tenant, 'id' | 'scope' | 'project_id' | 'tool_calls'>;
  message: string;
  requestId: string;
  /** The token its request claimed its `Idempotency-Key` with (see `Claims`), if it did. */
  claim?: string | undefined;
  /** A token of the starting request's own: its hang-up before the answer drops its connection (see `Starters`). */
  starter?: string | undefined;
  /** The stream slot admission took: the run holds it to its end, then releases it. */
  lease: string;
  /** The run-budget unit taken with the slot: given back at the run's end if the upstream spent nothing. */
  spend: SpendMark[];
  /** Whether the run is cancelled once every caller has left (not for webhook runs). */
  detachCancels: boolean;
  /** Heartbeat of the attached connection (`: ping` after this long without a frame). */
  pingMs: number;
}

export interface ResumePoint {
  runId: string;
  after: number;
}

/** How a start request ended: a run to read (new or attached), or why none. */
export type StartOutcome =
  | { kind: 'started' | 'attached'; runId: string; stream: ReadableStream<Uint8Array> }
  | { kind: 'busy'; runId: string }
  | { kind: 'conflict' }
  /** `mayHaveSpent`: the upstream did not answer with a refusal (a timeout): it may have begun the run. */
  | { kind: 'refused'; code: ErrorCode; detail: string; retryAfter?: number; mayHaveSpent?: true };

/** The events of a retained run from a resume point, or why not. */
export type AttachOutcome =
  | { kind: 'attached'; stream: ReadableStream<Uint8Array> }
  /** The run ended at or before the resume point: there is nothing after it to send. */
  | { kind: 'ended' }
  | { kind: 'not_found' }
  | { kind: 'gone' };

/** Each run event as logged: the relay's event and its position in the run. */
export interface LoggedEvent {
  n: number;
  event: RelayEvent;
}

/** `<run_id>:<n>`, the SSE `id` of a run's `n`th event. */
export const eventId = (runId: string, n: number) => `${runId}:${n}`;

const EVENT_ID = /^(run_[a-f0-9]{32}):(\d{1,9})$/;

/** A `Last-Event-ID` of this gateway, or `undefined` for anything else. */
export function parseEventId(value: string | undefined): ResumePoint | undefined {
  const match = value?.trim().match(EVENT_ID);
  if (!match?.[1] || match[2] === undefined) return undefined;
  return { runId: match[1], after: Number(match[2]) };
}
