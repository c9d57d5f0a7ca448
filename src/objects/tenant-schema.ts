import type { RateSnapshot } from '../limits/policy';
import type { LeaseLeftover } from '../limits/read-leases';
import type { Tenant } from '../tenant';
import type { Observation } from './governor';
import type { BudgetName, BudgetState, SpendMark } from './spend-book';

export type { BudgetName, BudgetState, SpendMark } from './spend-book';

/** Where a page starts: after this row (newest first, ties by id). The Worker makes it opaque. */
export interface PageKey {
  /** The row's `created_at` (threads) or `uploaded_at` (files). */
  at: string;
  id: string;
}

/** What a list asks for. */
export interface PageRequest {
  limit: number;
  after?: PageKey | undefined;
}

/** One page of a list, newest first; `next` only when there is more. */
export interface Page<T> {
  items: T[];
  next?: PageKey;
}

/** A thread as the gateway records it at creation. */
export interface ThreadRecord {
  thread_id: string;
  name: string | null;
  assistant_id: string | null;
  created_at: string;
}

/** A file as the gateway records it at upload. */
export interface FileRecord {
  file_id: string;
  filename: string;
  size: number;
  mime_type: string;
  uploaded_at: string;
}

export type Limits = Tenant['limits'];

/** What one request asks of its tenant's state, all in one round trip. */
export interface AdmitRequest {
  /** The tenant's id (the object's name). */
  tenant: string;
  user: string;
  limits: Limits;
  /** Only the tenant's bucket counts (webhook ingress: an automation is not an end user). */
  tenantOnly?: boolean;
  /**
   * The request's token was taken by its own first admission, refused after it (a chat turn
   * whose stopped run it then ended): this one takes none; blocks still count.
   */
  ratePaid?: boolean;
  /** Ownership gate: the request touches this thread or file. */
  owns?: { kind: 'thread' | 'file'; id: string };
  /** Reserve one thread of quota and of each thread-creation budget (`POST /v1/threads`). */
  reserveThread?: boolean;
  /** Hold one of the user's `files_per_user` for an upload, for at most `ttlMs` (`POST /v1/files`). */
  reserveFile?: { ttlMs: number };
  /**
   * The caller's chat (`POST /v1/chat`, `GET /v1/chat/{id}/stream`): the thread it names
   * is answered; with `open`, a chat that names none reserves one as `reserveThread` does
   * (quota and budgets) and is bound to the reservation.
   */
  chat?: { id: string; open: boolean };
  /**
   * Take one of the tenant's `concurrent_streams` slots (and one of the user's
   * `streams_per_user`) for a run, for at most `ttlMs`, and one unit of the run budget.
   */
  lease?: { ttlMs: number };
  /**
   * With `lease`, the tenant's allow-listed assistants: a run on a thread (owned, or the
   * chat's) whose assistant is not among them is refused (`assistant_revoked`).
   */
  assistants?: string[];
  /**
   * A new run's `Idempotency-Key`, bound to its thread for 24 h: the same key on another
   * of the user's threads is refused (`key_conflict`), not a second run.
   */
  runKey?: { key: string; threadId: string };
  /** Data the handler needs back. */
  want?: 'threads' | 'files' | 'usage';
  /** The page of `threads` or `files` wanted (default: the newest 50). */
  page?: PageRequest;
  /**
   * A read lease (services/reads.ts): take up to `want` tokens of both rate buckets (as
   * many as they hold, at least one) and as many upstream permits, so that one isolate
   * admits that many of the user's reads without asking again. Nothing else is taken.
   * `returned`: what the isolate's previous lease expired holding, given back first.
   */
  reads?: { want: number; returned?: LeaseLeftover };
  /**
   * The request will call the upstream: take a permit from the account's governor.
   * `costly` requests fail closed when the governor cannot answer; others pass.
   */
  upstream?: { account: string; costly: boolean; seen?: Observation | undefined };
}

export interface Usage {
  threads: number;
  threads_total: number;
  files: number;
  /** The caller's uploads in flight (each holds a file slot). */
  files_held: number;
  streams: number;
  /** The caller's own runs in progress. */
  streams_yours: number;
  budgets: Record<BudgetName, BudgetState>;
}

/**
 * Why admission refused (`chat_busy`: the chat's thread is being created by another
 * request; `key_conflict`: a run's `Idempotency-Key` was used on another thread;
 * `assistant_revoked`: a run on a thread of an assistant no longer allow-listed).
 */
export const DENY_REASONS = [
  'blocked',
  'rate_user',
  'rate_tenant',
  'not_found',
  'quota_user',
  'quota_total',
  'quota_files',
  'streams',
  'streams_user',
  'budget',
  'chat_busy',
  'key_conflict',
  'assistant_revoked',
  'upstream_budget',
  'limiter',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

export type { RateSnapshot } from '../limits/policy';
export type { LeaseLeftover } from '../limits/read-leases';

export type Admission =
  | {
      ok: true;
      rate: RateSnapshot;
      reservation?: string;
      /** The budget units the reservation took: given back only if the upstream refused. */
      reservationSpend?: SpendMark[];
      lease?: string;
      /** The run-budget unit the lease took: given back only if the upstream refused. */
      leaseSpend?: SpendMark[];
      /** The upload's hold on a file slot. */
      fileHold?: string;
      /** An upstream permit was taken for this request. */
      permit?: boolean;
      threads?: Page<ThreadRecord>;
      files?: Page<FileRecord>;
      usage?: Usage;
      /**
       * With `reads`: the reads leased, how many of them carry an upstream permit, and the
       * governor's window those permits belong to.
       */
      reads?: { granted: number; permits: number; window?: string };
      /** With `chat`: the thread the chat names, or `null` (then, when opened, `reservation`). */
      chatThread?: string | null;
    }
  | {
      ok: false;
      reason: DenyReason;
      rate: RateSnapshot;
      retryAfter?: number;
      budget?: BudgetName;
      /** The chat's thread, on a stream-slot refusal of a chat that has one. */
      thread?: string;
    };

/** The object's tables; created in its constructor. */
export const TENANT_SCHEMA = `
  CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    name TEXT,
    assistant_id TEXT,
    created_at TEXT NOT NULL,
    reserved_until INTEGER
  );
  CREATE INDEX IF NOT EXISTS threads_by_user ON threads (user);
  CREATE INDEX IF NOT EXISTS threads_by_user_created ON threads (user, created_at, thread_id);
  CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS files_by_user ON files (user);
  CREATE INDEX IF NOT EXISTS files_by_user_uploaded ON files (user, uploaded_at, file_id);
`;
