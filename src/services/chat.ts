import { uiMessageStream } from '../chat/ui-stream';
import { ApiError } from '../errors';
import type { RelayEvent } from '../stream/events';
import { relayEventsOf, relayEventsPair } from '../stream/run-events';
import { type Hold, type OpenedChat, Refusal } from './admission';
import type { RequestContext } from './context';
import { activeRun, cancelThreadRun, runFrames, startRun } from './run';
import { createThread } from './threads';

/** What `POST /v1/chat` runs: the last user message's text, and the assistant of a new chat. */
export interface ChatTurn {
  message: string;
  assistantId?: string | undefined;
}

/** A chat message as far as the gateway reads it: its role and its parts' types (and texts). */
export interface ChatMessageLike {
  role: string;
  parts: readonly { type: string; text?: unknown }[];
}

/**
 * The text sent upstream for a chat request: the last message's text parts, joined by
 * a line break, when that message is the user's; `null` when it is not, or has no text.
 * Earlier messages are not sent: the upstream thread keeps the history.
 */
export function lastUserText(messages: readonly ChatMessageLike[]): string | null {
  const last = messages.at(-1);
  if (last?.role !== 'user') return null;
  const texts = last.parts.flatMap((part) =>
    part.type === 'text' && typeof part.text === 'string' ? [part.text] : [],
  );
  const text = texts.join('\n');
  return text.trim() === '' ? null : text;
}

/**
 * One turn of a chat: the chat's thread (created under the reservation admission took
 * when the chat named none; committing it binds the chat to the new thread), then a run
 * on it with the stream slot admission took, its events as the UI message stream.
 */
export async function chatTurn(
  ctx: RequestContext,
  chat: OpenedChat,
  lease: Hold,
  turn: ChatTurn,
): Promise<ReadableStream<Uint8Array>> {
  const threadId =
    chat.threadId ??
    (
      await createThread(ctx, chat.reservation, {
        assistant_id: turn.assistantId,
        name: 'Chat',
        metadata: { source: 'chat' },
      })
    ).thread_id;
  // A run like any other: it outlives this connection, the chat's resume reattaches to it.
  // The request's signal ends the pipe (so detaches) where the runtime fires it for a caller
  // who left; under workerd serve that is only noticed at the next write (a ping at worst).
  const request = { threadId, message: turn.message, detachCancels: true };
  const start = () => startRun(ctx, lease, request, ctx.config.stream.pingMs);
  const run = await start().catch(async (error: unknown) => {
    if (!(await endedStoppedRun(ctx, threadId, error))) throw error;
    return start();
  });
  return run.frames.pipeThrough(uiStream(ctx), { signal: ctx.signal });
}

/**
 * The chat's previous run still holds its thread (`RUN_IN_PROGRESS`) or the caller's
 * stream slot, and nobody reads it: the frontend stopped it (the AI SDK's `stop()` only
 * hangs up), so the user's next message ends it (`RUN_CANCELLED`) rather than wait out
 * the detach grace. `true` when it did: the turn may go again. A run somebody still
 * reads (another tab) stays, and the turn is refused.
 */
export async function endedStoppedRun(
  ctx: RequestContext,
  threadId: string,
  error: unknown,
): Promise<boolean> {
  const held =
    error instanceof Refusal ? error.forSlot : error instanceof ApiError && error.code === 'RUN_IN_PROGRESS';
  return held && cancelThreadRun(ctx, threadId, true);
}

/** The run's SSE frames read back into events, then written as the UI message stream. */
const uiStream = (ctx: RequestContext): ReadableWritablePair<Uint8Array, Uint8Array> => {
  const events = relayEventsPair();
  return {
    writable: events.writable,
    readable: events.readable.pipeThrough(uiMessageStream(streamOptions(ctx))),
  };
};

/**
 * The chat's run in progress as the UI message stream from its first event, or `null`
 * when the thread has none (`GET /v1/chat/{chat_id}/stream` answers `204`).
 */
export async function resumeChat(
  ctx: RequestContext,
  threadId: string,
): Promise<ReadableStream<Uint8Array> | null> {
  const events = await activeRunEvents(ctx, threadId);
  return events ? events.pipeThrough(uiMessageStream(streamOptions(ctx))) : null;
}

/**
 * The events of the caller's run in progress on the thread, replayed from its start and
 * then live to its final `done`/`error`; `null` when no run is in progress.
 */
export async function activeRunEvents(
  ctx: RequestContext,
  threadId: string,
): Promise<ReadableStream<RelayEvent> | null> {
  const runId = await activeRun(ctx, threadId);
  if (runId === null) return null;
  // From its first event: a run that ended in between has its final one there.
  const frames = await runFrames(ctx, threadId, runId, 0);
  return frames && relayEventsOf(frames, ctx.signal);
}

const streamOptions = (ctx: RequestContext) => ({
  pingMs: ctx.config.stream.pingMs,
  fallbackMessageId: `msg_${crypto.randomUUID().replaceAll('-', '')}`,
});
