import type { z } from 'zod';
import { ApiError } from '../errors';
import { errorName, log } from '../log';
import { meter } from '../metering/usage';
import type { ThreadRecord } from '../objects/tenant-state';
import type { MessageSchema as PublicMessageSchema } from '../routes/schemas';
import { badResponse } from '../upstream/errors';
import {
  type UpstreamMessage,
  UpstreamMessageSchema,
  UpstreamMessagesPageSchema,
  type UpstreamThread,
  UpstreamThreadSchema,
} from '../upstream/schemas';
import type { Hold } from './admission';
import { projectScope, type RequestContext } from './context';
import { forgetOwner, rememberOwner } from './local-reads';
import { cancelThreadRun } from './run';

type PublicMessage = z.infer<typeof PublicMessageSchema>;

/** Only the fields a frontend needs; everything else the upstream sends stays here. */
export function publicThread(thread: UpstreamThread, fallback?: Partial<ThreadRecord>): ThreadRecord {
  return {
    thread_id: thread.thread_id,
    name: thread.name ?? fallback?.name ?? null,
    assistant_id: thread.assistant_id ?? fallback?.assistant_id ?? null,
    created_at: thread.created_at ?? fallback?.created_at ?? new Date().toISOString(),
  };
}

/**
 * The conversation as a frontend sees it: user and assistant turns only. System and
 * tool messages can carry the assistant's instructions or tool internals, which never
 * leave the gateway (the tenant's `tool_calls` policy governs tool output on runs).
 */
export function conversation(messages: readonly UpstreamMessage[]): PublicMessage[] {
  return messages.filter((m) => m.role === 'user' || m.role === 'assistant').map(publicMessage);
}

export function publicMessage(message: UpstreamMessage): PublicMessage {
  return {
    message_id: message.message_id ?? null,
    role: message.role,
    content: message.content,
    timestamp: message.timestamp ?? null,
  };
}

export interface CreateThreadInput {
  assistant_id?: string | undefined;
  name?: string | undefined;
  metadata?: Record<string, string | number | boolean> | undefined;
}

/**
 * The assistant a new thread gets: `requested` if allow-listed, else the tenant's first;
 * anything else is `400` naming `assistant_id`. Routes ask it before admission too, so a
 * bad value is refused as input, not at a limit, and holds nothing meanwhile.
 */
export function assistantOf(ctx: Pick<RequestContext, 'tenant'>, requested: string | undefined): string {
  const assistantId = requested ?? ctx.tenant.assistants[0];
  if (assistantId === undefined || !ctx.tenant.assistants.includes(assistantId)) {
    throw new ApiError('VALIDATION_ERROR', 'assistant_id: not an assistant of this tenant.', {
      field: 'assistant_id',
    });
  }
  return assistantId;
}

/**
 * Creates a thread: the assistant must be allow-listed (default: the first). Admission
 * reserved one thread of quota before this ran (the upstream bills per thread); this
 * commits the reservation on success and otherwise leaves it to be given back, so a
 * failed create costs nothing.
 */
export async function createThread(
  ctx: RequestContext,
  reservation: Hold,
  input: CreateThreadInput,
): Promise<ThreadRecord> {
  const assistantId = assistantOf(ctx, input.assistant_id);
  const name = input.name ?? 'Conversation';
  const created = await ctx.upstream.json(
    {
      method: 'POST',
      path: ['threads'],
      trailingSlash: true,
      scope: projectScope(ctx),
      json: {
        name,
        assistant_id: assistantId,
        metadata: { ...input.metadata, type: 'thread', configurable: {} },
        configurable: { type: 'agent' },
      },
    },
    UpstreamThreadSchema,
  );
  // Metered when the upstream created (and billed) it, whatever happens next.
  meter(ctx, { threads_created: 1 });
  const thread = publicThread(created, { name, assistant_id: assistantId });
  // Recorded with the assistant the gateway asked for, not the upstream's echo of it: runs on
  // the thread are gated on that id being allow-listed (objects/thread-book.ts `offers`).
  const record = { ...thread, assistant_id: assistantId };
  if ((await ctx.state.commitThread(ctx.user, reservation.id, record)) === 'taken') {
    // The upstream handed out an id another user of this tenant already owns: answering
    // it would give that user's thread away. The reservation is given back unclaimed.
    log('error', 'upstream thread id already held by another user', {
      request_id: ctx.requestId,
      tenant: ctx.tenant.id,
    });
    throw badResponse();
  }
  reservation.claim();
  rememberOwner(ctx, 'thread', thread.thread_id);
  // Answered as recorded (and as GET /v1/threads lists it).
  return record;
}

export async function getThread(ctx: RequestContext, threadId: string) {
  const thread = await ctx.upstream.json(
    { method: 'GET', path: ['threads', threadId], scope: projectScope(ctx), signal: ctx.signal },
    UpstreamThreadSchema,
  );
  return { ...publicThread(thread), messages: conversation(thread.messages ?? []) };
}

/**
 * Deletes the thread upstream, then forgets it here. Answers whether this call removed the
 * gateway's record of it: false when a concurrent delete of the same thread did, so that
 * only one of them counts it as deleted.
 */
export async function deleteThread(ctx: RequestContext, threadId: string): Promise<boolean> {
  try {
    await ctx.upstream.send({ method: 'DELETE', path: ['threads', threadId], scope: projectScope(ctx) });
  } catch (error) {
    // Already gone upstream: the thread is deleted either way.
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  const removed = await ctx.state.removeThread(ctx.user, threadId);
  forgetOwner(ctx, 'thread', threadId);
  // Its run would go on holding a slot, unseen: the thread is no longer the caller's to read or
  // cancel. The thread is deleted whatever this answers; a run not cancelled ends by itself.
  await cancelThreadRun(ctx, threadId, false).catch((error: unknown) =>
    log('warn', 'run of a deleted thread not cancelled', {
      request_id: ctx.requestId,
      error: errorName(error),
    }),
  );
  return removed;
}

export async function listMessages(
  ctx: RequestContext,
  threadId: string,
  page: { limit: number; before?: string | undefined },
) {
  const result = await ctx.upstream.json(
    {
      method: 'GET',
      path: ['threads', threadId, 'messages'],
      query: { limit: page.limit, before: page.before },
      // Whether a cursor names a message of the thread only the upstream knows.
      callerFields: ['before'],
      scope: projectScope(ctx),
      signal: ctx.signal,
    },
    UpstreamMessagesPageSchema,
  );
  return { messages: conversation(result.messages), has_more: result.has_more };
}

/** Adds a message as the user: the role is never the caller's to choose. */
export async function postMessage(
  ctx: RequestContext,
  threadId: string,
  content: string,
): Promise<PublicMessage> {
  const message = await ctx.upstream.json(
    {
      method: 'POST',
      path: ['threads', threadId, 'messages'],
      json: { role: 'user', content },
      scope: projectScope(ctx),
    },
    UpstreamMessageSchema,
  );
  return publicMessage(message);
}
