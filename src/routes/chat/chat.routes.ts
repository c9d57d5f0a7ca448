import { z } from '@hono/zod-openapi';
import { lastUserText } from '../../services/chat';
import { limitBody, sessionRoute } from '../define';
import { ApiIdSchema, errorResponses, jsonBody } from '../schemas';

/**
 * The SDK sends the whole conversation on every turn; only the last message is read, so
 * the cap is a ceiling for long chats, not a size any one turn needs (README: send only
 * the last message with `prepareSendMessagesRequest` to stay far below it).
 */
export const MAX_CHAT_BODY = 1024 * 1024;

/** The longest text a turn sends upstream (the run route's `message` limit). */
const MAX_TURN_TEXT = 32_000;

const ChatPart = z.looseObject({ type: z.string().min(1).max(128) });

const ChatMessage = z
  .looseObject({
    id: z.string().max(256),
    role: z.enum(['system', 'user', 'assistant']),
    parts: z.array(ChatPart),
  })
  .openapi('ChatMessage', { description: 'A `UIMessage` of the AI SDK; only `text` parts are read.' });

const ChatBody = z
  .looseObject({
    id: ApiIdSchema.openapi({ description: 'The chat id: names one thread of the caller' }),
    messages: z.array(ChatMessage).min(1),
    trigger: z
      .literal('submit-message', { error: 'only "submit-message" is supported (no regenerate yet)' })
      .default('submit-message'),
    messageId: z.string().max(256).optional(),
    assistant_id: ApiIdSchema.optional().openapi({
      description:
        'The assistant of a new chat (default: the tenant’s first); one of the tenant’s on any turn (else 400), used by the first only',
    }),
  })
  .superRefine((body, ctx) => {
    const text = lastUserText(body.messages);
    const at = ['messages', body.messages.length - 1];
    if (text === null) {
      ctx.addIssue({ code: 'custom', path: at, message: 'the last message must be the user’s, with text' });
    } else if (text.length > MAX_TURN_TEXT) {
      ctx.addIssue({ code: 'custom', path: at, message: `text over ${MAX_TURN_TEXT} characters` });
    }
  })
  .openapi('ChatRequest', {
    description:
      'What `DefaultChatTransport` sends (fields it adds besides these are ignored). Only the last ' +
      'message is sent upstream (its text parts joined by a line break); the thread keeps the history.',
  });

const UI_STREAM_DESCRIPTION =
  'The AI SDK UI message stream (`x-vercel-ai-ui-message-stream: v1`): `data: <json>` frames with `type` ' +
  '`start` (`messageId`), `start-step`, `text-start`/`text-delta`/`text-end`, `tool-input-available` ' +
  '(`toolCallId`, `toolName`, `input` cut to the tenant’s `tool_calls` policy, `dynamic: true`, ' +
  '`providerExecuted: true`), `finish-step`, `finish`, or `error` (`errorText`: `"<CODE>: <detail>"`), ' +
  'then `data: [DONE]`; a `: ping` comment after 15 s without a frame.';

const uiStream = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: z.string().openapi({ description: UI_STREAM_DESCRIPTION }) } },
});

/** A turn is a run (a stream slot and a permit), and a new chat's first turn also a thread. */
export const chat = sessionRoute(
  { limiter: 'closed', governor: 'closed', chat: 'open', stream: true },
  {
    method: 'post',
    path: '/chat',
    operationId: 'sendChatMessages',
    summary: 'The Vercel AI SDK chat protocol: `useChat` / `DefaultChatTransport`, assistant-ui',
    description:
      'The chat id names one thread of the caller: created on the first message (counted against the ' +
      'thread quotas and budgets), reused after. `"trigger": "regenerate-message"` is `400`; a chat whose ' +
      'thread is still being created by another request is `409 RUN_IN_PROGRESS`.',
    request: { body: jsonBody(ChatBody) },
    responses: {
      200: uiStream('The reply as the UI message stream'),
      ...errorResponses(400, 409, 413),
    },
  },
  limitBody(MAX_CHAT_BODY, `Chat requests are limited to ${MAX_CHAT_BODY} bytes.`),
  // The SDK sends the whole history, of which only the last user message's text is read: a
  // `__proto__` key in a part the gateway ignores (a client tool's output) must not refuse
  // every later turn of the chat.
  false,
);

const ChatParams = z
  .object({
    chat_id: ApiIdSchema.openapi({ param: { name: 'chat_id', in: 'path' }, example: 'chat_abc123' }),
  })
  .strict();

/** A resume attaches to a run already paid for: no permit, no slot. */
export const resumeChat = sessionRoute(
  { limiter: 'closed', governor: 'none', chat: 'find' },
  {
    method: 'get',
    path: '/chat/{chat_id}/stream',
    operationId: 'resumeChat',
    summary: 'Resume the chat’s run in progress (the SDK’s `resume: true`)',
    description:
      'That run from its start in the same protocol as `POST /v1/chat`; `204` when the chat has no run ' +
      'in progress (or is not the caller’s).',
    request: { params: ChatParams },
    responses: {
      200: uiStream('The run in progress, from its start'),
      204: { description: 'No run in progress' },
      ...errorResponses(400),
    },
  },
);
