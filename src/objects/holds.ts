import type { ChatBinding, ChatBook } from './chat-book';
import type { FileBook } from './file-book';
import type { KeyBook } from './key-book';
import type { LeaseBook } from './lease-book';
import { type BudgetName, runBudgets, type SpendBook, threadBudgets } from './spend-book';
import type { Admission, AdmitRequest, DenyReason, Limits, Usage } from './tenant-schema';
import type { ThreadBook } from './thread-book';

/** The tenant's books an admission takes holds in (all in its object's storage). */
export interface Books {
  threads: ThreadBook;
  files: FileBook;
  leases: LeaseBook;
  spend: SpendBook;
  chats: ChatBook;
  keys: KeyBook;
}

/** What an admitted request holds: the parts of an {@link Admission} that take something. */
export type Holds = Pick<
  Extract<Admission, { ok: true }>,
  'reservation' | 'reservationSpend' | 'lease' | 'leaseSpend' | 'fileHold' | 'chatThread'
>;

export type HoldOutcome =
  | { ok: true; holds: Holds }
  | { ok: false; reason: DenyReason; retryAfter?: number; budget?: BudgetName; thread?: string };

/**
 * The refusals of {@link takeHolds} that no request can lift meanwhile, a 4xx the caller
 * must change its request for: asked before the upstream permit's await too, so a request
 * they refuse neither waits for a permit nor takes one (else, while the upstream is busy,
 * a run on a revoked assistant's thread is a retryable 503 before it is its 400).
 */
export function refusedBeforePermit(books: Books, request: AdmitRequest, at: number): DenyReason | undefined {
  const chat = request.chat ? books.chats.find(request.user, request.chat.id, at) : undefined;
  return refusedOnSight(books, request, chat, at);
}

/** The run's key is bound to another thread; or its thread's assistant is no longer offered. */
function refusedOnSight(
  books: Books,
  request: AdmitRequest,
  chat: ChatBinding | undefined,
  at: number,
): 'key_conflict' | 'assistant_revoked' | undefined {
  const { user, runKey } = request;
  if (runKey && books.keys.conflicts(user, runKey.key, runKey.threadId, at)) return 'key_conflict';
  // A new run on a thread whose assistant the operator has since taken off the allow-list.
  const runOn = request.owns?.kind === 'thread' ? request.owns.id : chat?.state === 'thread' && chat.threadId;
  if (request.lease && request.assistants && runOn && !books.threads.offers(runOn, request.assistants))
    return 'assistant_revoked';
  return undefined;
}

/**
 * The costly part of an admission, after its rate, ownership and upstream permit: the
 * chat's thread (or a reservation for it), thread and file quota, the stream lease and
 * the budgets, all checked before any is taken, so a refusal takes nothing (a run's
 * `Idempotency-Key` is bound to its thread only then). Synchronous: nothing interleaves
 * between the counts and the takes.
 */
export function takeHolds(books: Books, request: AdmitRequest, at: number): HoldOutcome {
  const { user, limits, runKey } = request;
  const chat = request.chat ? books.chats.find(user, request.chat.id, at) : undefined;
  // Asked again after the permit's await: a key bound, or a chat's thread made, meanwhile.
  const seen = refusedOnSight(books, request, chat, at);
  if (seen) return { ok: false, reason: seen };
  if (chat?.state === 'creating' && request.chat?.open) return { ok: false, reason: 'chat_busy' };
  const reserveThread =
    request.reserveThread === true || (request.chat?.open === true && chat?.state === 'none');
  if (reserveThread) {
    if (books.threads.count(user) >= limits.threads_per_user) return { ok: false, reason: 'quota_user' };
    if (books.threads.count() >= limits.threads_total) return { ok: false, reason: 'quota_total' };
  }
  // Uploads in flight count: each may become a file.
  if (request.reserveFile && books.files.count(user) + books.files.held(user) >= limits.files_per_user) {
    return { ok: false, reason: 'quota_files' };
  }
  if (request.lease) {
    const { count, yours, next } = books.leases.active(at, user);
    const retryAfter = Math.min(30, Math.max(1, Math.ceil(((next ?? at) - at) / 1000)));
    // A chat's thread, so that a run still holding the slot on it can be told apart (services/chat.ts).
    const named = chat?.state === 'thread' ? { thread: chat.threadId } : {};
    if (count >= limits.concurrent_streams) return { ok: false, reason: 'streams', retryAfter, ...named };
    if (yours >= limits.streams_per_user) return { ok: false, reason: 'streams_user', retryAfter, ...named };
  }
  // Budgets count what was spent: checked last, so a refusal above spends none of them.
  const threadSpend = reserveThread ? threadBudgets(user, limits, at) : [];
  const runSpend = request.lease ? runBudgets(user, limits, at) : [];
  const spent = books.spend.check([...threadSpend, ...runSpend], at);
  if (!spent.ok) return { ok: false, reason: 'budget', retryAfter: spent.retryAfter, budget: spent.budget };

  const holds: Holds = {};
  if (reserveThread) {
    holds.reservation = books.threads.reserve(user, at);
    holds.reservationSpend = books.spend.take(threadSpend);
    if (request.chat) books.chats.bind(user, request.chat.id, holds.reservation);
  }
  if (chat) holds.chatThread = chat.state === 'thread' ? chat.threadId : null;
  if (request.lease) {
    holds.lease = books.leases.take(user, at + request.lease.ttlMs);
    holds.leaseSpend = books.spend.take(runSpend);
  }
  if (request.reserveFile) holds.fileHold = books.files.hold(user, at + request.reserveFile.ttlMs);
  if (runKey) books.keys.bind(user, runKey.key, runKey.threadId, at);
  return { ok: true, holds };
}

/** What the user holds of each quota and budget now (`GET /v1/usage`). */
export function usageOf(books: Books, user: string, limits: Limits, now: number): Usage {
  const streams = books.leases.active(now, user);
  return {
    threads: books.threads.count(user),
    threads_total: books.threads.count(),
    files: books.files.count(user),
    files_held: books.files.held(user),
    streams: streams.count,
    streams_yours: streams.yours,
    budgets: books.spend.states([...threadBudgets(user, limits, now), ...runBudgets(user, limits, now)], now),
  };
}
