/**
 * The Vercel AI SDK (the real `ai` package, pinned in package.json) as a frontend uses
 * it, against the Worker entry point: `DefaultChatTransport` with the caller's token,
 * its `fetch` the Worker's, and every byte the gateway sends kept to check frame by
 * frame with the SDK's own chunk schema.
 */
import {
  DefaultChatTransport,
  type HttpChatTransportInitOptions,
  readUIMessageStream,
  type UIMessage,
  uiMessageChunkSchema,
} from 'ai';
import { createParser } from 'eventsource-parser';
import { expect } from 'vitest';
import { unique } from './fixtures';
import { type Caller, type GatewayOptions, testGateway } from './gateway';
import { JsonObject, parseText } from './json';

/** Where the transport posts (`api`); the SDK resumes at `{api}/{chatId}/stream`. */
export const CHAT_API = 'https://edge.test/v1/chat';

type FetchWorker = (path: string, init?: RequestInit) => Promise<Response>;

/** One response the transport received, as the gateway sent it. */
export interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** Each SSE `data:` payload, in order (`[DONE]` included). */
  data: string[];
  /** Each SSE comment (`: ping` → `ping`). */
  comments: string[];
  /** Resolves when the gateway's body has ended. */
  ended: Promise<void>;
}

/** A user message as `useChat`'s `sendMessage({ text })` builds it. */
export const userMessage = (text: string, id = `m_${crypto.randomUUID().slice(0, 8)}`): UIMessage => ({
  id,
  role: 'user',
  parts: [{ type: 'text', text }],
});

/**
 * A chat frontend for `caller`: the SDK's transport (with `options`), and every exchange
 * it had. Pass the gateway's `fetch` (`testGateway().fetch`).
 */
export function chatFrontend(
  fetchWorker: FetchWorker,
  caller: Pick<Caller, 'token'>,
  options: Pick<HttpChatTransportInitOptions<UIMessage>, 'prepareSendMessagesRequest'> = {},
) {
  const exchanges: Exchange[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const res = await fetchWorker(url, input instanceof Request ? input : init);
    const exchange: Exchange = {
      method: init?.method ?? 'GET',
      url,
      status: res.status,
      headers: res.headers,
      data: [],
      comments: [],
      ended: Promise.resolve(),
    };
    exchanges.push(exchange);
    if (!res.body || res.status === 204) return res;
    const [mine, theirs] = res.body.tee();
    exchange.ended = record(mine, exchange);
    // A test that aborts the request breaks this copy too: its rejection is expected, not unhandled.
    exchange.ended.catch(() => undefined);
    return new Response(theirs, { status: res.status, headers: res.headers });
  };
  const transport = new DefaultChatTransport<UIMessage>({
    api: CHAT_API,
    headers: { Authorization: `Bearer ${caller.token}` },
    fetch,
    ...options,
  });
  return {
    transport,
    exchanges,
    /** Sends `messages` on chat `chatId` (`trigger: submit-message`); the SDK's chunk stream. */
    send(chatId: string, messages: UIMessage[], options: { abortSignal?: AbortSignal; body?: object } = {}) {
      return transport.sendMessages({
        trigger: 'submit-message',
        chatId,
        messageId: undefined,
        messages,
        abortSignal: options.abortSignal,
        ...(options.body ? { body: options.body } : {}),
      });
    },
    /** The SDK's `reconnectToStream` (what `resume: true` calls on load). */
    reconnect(chatId: string) {
      return transport.reconnectToStream({ chatId });
    },
  };
}

async function record(body: ReadableStream<Uint8Array>, exchange: Exchange): Promise<void> {
  const parser = createParser({
    onEvent: (event) => exchange.data.push(event.data),
    onComment: (comment) => exchange.comments.push(comment.trim()),
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
}

/** The assistant message `readUIMessageStream` assembles from `stream`, as it stands at the end. */
export async function assemble(stream: ReadableStream, options: { terminateOnError?: boolean } = {}) {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream<UIMessage>({ stream, ...options })) last = message;
  if (!last) throw new Error('the stream assembled no message');
  return last;
}

/** The message's text parts joined, as a chat UI shows them. */
export const textOf = (message: UIMessage): string =>
  message.parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('');

/**
 * Asserts every frame of `exchange` is a chunk the SDK's own `uiMessageChunkSchema`
 * accepts, and that the stream ends with `data: [DONE]` and nothing after it. Resolves
 * to the chunks, parsed.
 */
export async function expectSdkFrames(exchange: Exchange): Promise<Record<string, unknown>[]> {
  await exchange.ended;
  expect(exchange.data.indexOf('[DONE]')).toBe(exchange.data.length - 1);
  const schema = uiMessageChunkSchema();
  const chunks: Record<string, unknown>[] = [];
  for (const data of exchange.data.slice(0, -1)) {
    const value = parseText(data, JsonObject);
    const checked = await schema.validate?.(value);
    expect(checked?.success, data).toBe(true);
    chunks.push(value);
  }
  return chunks;
}

/** A fresh chat id. */
export const chatId = (): string => `chat_${unique()}`;

/** A gateway (`options` as `testGateway`'s), a user of `tenant`, and that user's SDK frontend. */
export async function chatSetup(tenant = 'acme', options: GatewayOptions = {}) {
  const gw = testGateway(options);
  const user = await gw.caller(tenant);
  return { gw, user, sdk: chatFrontend(gw.fetch, user) };
}

/** The caller's threads (the ownership registry). */
export async function threadsOf(caller: Caller): Promise<string[]> {
  const res = await caller.edge.v1.threads.$get({ query: {} });
  expect(res.status).toBe(200);
  return (await res.json()).threads.map((t) => t.thread_id);
}
