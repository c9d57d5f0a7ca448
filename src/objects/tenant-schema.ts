import type { Tenant } from '../config';
import type { RateState } from '../limits/policy';
import type { Observation } from './governor';
import type { BudgetName, BudgetState, SpendMark } from './spend-book';

export type { BudgetName, BudgetState, SpendMark } from './spend-book';

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
  /** Ownership gate: the request touches this thread or file. */
  owns?: { kind: 'thread' | 'file'; id: string };
  /** Reserve one thread of quota and of each thread-creation budget (`POST /v1/threads`). */
  reserveThread?: boolean;
  /**
   * Take one of the tenant's `concurrent_streams` slots (and one of the user's
   * `streams_per_user`) for a run, for at most `ttlMs`, and one unit of the run budget.
   */
  lease?: { ttlMs: number };
  /** Data the handler needs back. */
  want?: 'threads' | 'files' | 'usage';
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
  streams: number;
  /** The caller's own runs in progress. */
  streams_yours: number;
  budgets: Record<BudgetName, BudgetState>;
}

export type DenyReason =
  | 'blocked'
  | 'rate_user'
  | 'rate_tenant'
  | 'not_found'
  | 'quota_user'
  | 'quota_total'
  | 'streams'
  | 'streams_user'
  | 'budget'
  | 'upstream_budget'
  | 'limiter';

export interface RateSnapshot {
  user: RateState;
  tenant: RateState;
}

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
      /** An upstream permit was taken for this request. */
      permit?: boolean;
      threads?: ThreadRecord[];
      files?: FileRecord[];
      usage?: Usage;
    }
  | { ok: false; reason: DenyReason; rate: RateSnapshot; retryAfter?: number; budget?: BudgetName };

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
  CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS files_by_user ON files (user);
`;
