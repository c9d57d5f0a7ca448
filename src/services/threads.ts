import type { z } from 'zod';
import { ApiError } from '../errors';
import { log } from '../log';
import type { ThreadRecord } from '../objects/tenant-state';
import type { MessageSchema as PublicMessageSchema } from '../routes/schemas';
import { badResponse } from '../upstream/errors';
import {
  MessageSchema,
  MessagesPageSchema,
  ThreadSchema,
  type UpstreamMessage,
  type UpstreamThread,
} from '../upstream/schemas';
import { admitted, type Gateway, projectScope } from './gateway';

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
 * Creates a thread: the assistant must be allow-listed (default: the first). The
 * admission middleware reserved one thread of quota before this ran (the upstream
 * bills per thread); this commits it on success and otherwise leaves it to be given
 * back, so a failed create costs nothing.
 */
export async function createThread(gw: Gateway, input: CreateThreadInput): Promise<ThreadRecord> {
  const assistantId = input.assistant_id ?? gw.tenant.assistants[0];
  if (assistantId === undefined || !gw.tenant.assistants.includes(assistantId)) {
    throw new ApiError(400, 'VALIDATION_ERROR', 'assistant_id: not an assistant of this tenant.', {
      field: 'assistant_id',
    });
  }
  const { reservation } = admitted(gw);
  if (reservation === undefined) throw new Error('route is missing its thread reservation');
  const name = input.name ?? 'Conversation';
  const created = await gw.upstream.json(
    {
      method: 'POST',
      path: ['threads'],
      trailingSlash: true,
      scope: projectScope(gw),
      json: {
        name,
        assistant_id: assistantId,
        metadata: { ...input.metadata, type: 'thread', configurable: {} },
        configurable: { type: 'agent' },
      },
    },
    ThreadSchema,
  );
  const thread = publicThread(created, { name, assistant_id: assistantId });
  if ((await gw.state.commitThread(gw.user, reservation, thread)) === 'taken') {
    // The upstream handed out an id another user of this tenant already owns: answering
    // it would give that user's thread away. The reservation is given back unclaimed.
    log('error', 'upstream thread id already held by another user', {
      request_id: gw.requestId,
      tenant: gw.tenant.id,
    });
    throw badResponse();
  }
  gw.claimed.add(reservation);
  return thread;
}

/** The caller's own threads, from the ownership registry (no upstream call). */
export function listThreads(gw: Gateway): ThreadRecord[] {
  return admitted(gw).threads ?? [];
}

export async function getThread(gw: Gateway, threadId: string) {
  const thread = await gw.upstream.json(
    { method: 'GET', path: ['threads', threadId], scope: projectScope(gw), signal: gw.signal },
    ThreadSchema,
  );
  return { ...publicThread(thread), messages: conversation(thread.messages ?? []) };
}

export async function deleteThread(gw: Gateway, threadId: string): Promise<void> {
  try {
    await gw.upstream.send({ method: 'DELETE', path: ['threads', threadId], scope: projectScope(gw) });
  } catch (error) {
    // Already gone upstream: the thread is deleted either way.
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  await gw.state.removeThread(gw.user, threadId);
}

export async function listMessages(
  gw: Gateway,
  threadId: string,
  page: { limit: number; before?: string | undefined },
) {
  const result = await gw.upstream.json(
    {
      method: 'GET',
      path: ['threads', threadId, 'messages'],
      query: { limit: page.limit, before: page.before },
      scope: projectScope(gw),
      signal: gw.signal,
    },
    MessagesPageSchema,
  );
  return { messages: conversation(result.messages), has_more: result.has_more };
}

/** Adds a message as the user: the role is never the caller's to choose. */
export async function postMessage(gw: Gateway, threadId: string, content: string): Promise<PublicMessage> {
  const message = await gw.upstream.json(
    {
      method: 'POST',
      path: ['threads', threadId, 'messages'],
      json: { role: 'user', content },
      scope: projectScope(gw),
    },
    MessageSchema,
  );
  return publicMessage(message);
}
