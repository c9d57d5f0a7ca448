import { UI_MESSAGE_STREAM_HEADERS } from '../../chat/ui-stream';
import { ApiError } from '../../errors';
import { chatTurn, lastUserText, resumeChat as resume } from '../../services/chat';
import { assistantOf } from '../../services/threads';
import { requestContext } from '../context';
import { admitted, admittedWith } from '../define';
import * as routes from './chat.routes';

/**
 * `POST /v1/chat`: one turn of an AI SDK chat, answered as the UI message stream. An
 * `assistant_id` that is not the tenant's is refused before admission, on any turn (an
 * allow-listed one is used only by the chat's first).
 */
export const chat = admittedWith(
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
