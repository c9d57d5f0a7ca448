import { UI_MESSAGE_STREAM_HEADERS } from '../../chat/ui-stream';
import { ApiError } from '../../errors';
import { Refusal, ratePaid } from '../../services/admission';
import { chatTurn, endedStoppedRun, lastUserText, resumeChat as resume } from '../../services/chat';
import { refusalOf } from '../../services/run';
import { assistantOf } from '../../services/threads';
import { requestContext } from '../context';
import { admitted, admittedWith } from '../define';
import * as routes from './chat.routes';

/**
 * `POST /v1/chat`: one turn of an AI SDK chat, answered as the UI message stream. An
 * `assistant_id` that is not the tenant's is refused before admission, on any turn (an
 * allow-listed one is used only by the chat's first).
 */
const chatTurnOnce = admittedWith(
  routes.chat,
  (c) => {
    const requested = c.req.valid('json').assistant_id;
    if (requested !== undefined) assistantOf(requestContext(c), requested);
    return { input: undefined };
  },
  async (c, grant) => {
    const body = c.req.valid('json');
    const message = lastUserText(body.messages);
    // The body's schema refused a request without one: this is never reached.
    if (message === null)
      throw new ApiError('VALIDATION_ERROR', 'messages: no user text.', { field: 'messages' });
    const stream = await chatTurn(requestContext(c), grant.chat, grant.lease, {
      message,
      assistantId: body.assistant_id,
    });
    return c.body(stream, 200, UI_MESSAGE_STREAM_HEADERS);
  },
  (c) => c.req.valid('json').id,
);

/**
 * A turn refused a stream slot while the chat's own previous run holds it, stopped by
 * the frontend and read by nobody, ends that run and is admitted once more; refused
 * for a run someone still reads, it is told that run is in progress (409).
 */
export const chat = async (c: Parameters<typeof chatTurnOnce>[0]) => {
  try {
    return await chatTurnOnce(c);
  } catch (error) {
    const thread = error instanceof Refusal ? error.thread : undefined;
    if (thread === undefined) throw error;
    const ctx = requestContext(c);
    if (!(await endedStoppedRun(ctx, thread, error))) throw await refusalOf(ctx, thread, error);
    // The refused try took this request's rate token: the retry takes none.
    ratePaid(ctx);
    return chatTurnOnce(c).catch(async (again: unknown) => {
      throw await refusalOf(ctx, thread, again);
    });
  }
};

/** `GET /v1/chat/{chat_id}/stream`: the chat's run in progress, or `204`. */
export const resumeChat = admitted(
  routes.resumeChat,
  async (c, grant) => {
    const { threadId } = grant.chat;
    const stream = threadId === null ? null : await resume(requestContext(c), threadId);
    if (stream === null) return c.body(null, 204);
    return c.body(stream, 200, UI_MESSAGE_STREAM_HEADERS);
  },
  (c) => c.req.valid('param').chat_id,
);
