import { describe, expect, it } from 'vitest';
import { CANARY_TOOL_ARG } from '../emulator/canaries';
import { TENANTS } from '../fixtures/tenants';
import { expectNoSecrets } from '../helpers/assertions';
import {
  assemble,
  chatFrontend,
  chatId,
  expectSdkFrames,
  chatSetup as setup,
  textOf,
  threadsOf,
  userMessage,
} from '../helpers/chat';
import { usage } from '../helpers/fixtures';

describe('POST /v1/chat through the AI SDK', () => {
  it('answers with the UI message stream headers', async () => {
    const { sdk } = await setup();
    await assemble(await sdk.send(chatId(), [userMessage('hello there')]));
    const [exchange] = sdk.exchanges;
    expect(exchange?.status).toBe(200);
    expect(exchange?.headers.get('content-type')).toBe('text/event-stream');
    expect(exchange?.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(exchange?.headers.get('cache-control')).toBe('no-cache');
    expect(exchange?.headers.get('x-accel-buffering')).toBe('no');
    expect(exchange?.headers.get('ratelimit')).toMatch(/"user";r=\d+/);
  });

  it("assembles exactly the emulator's reply text", async () => {
    const { sdk } = await setup();
    const message = await assemble(await sdk.send(chatId(), [userMessage('hello there')]));
    expect(message.role).toBe('assistant');
    expect(textOf(message)).toBe('Echo: hello there');
  });

  it('assembles the tool call by name only under the "name" policy', async () => {
    const { sdk } = await setup('acme');
    const message = await assemble(await sdk.send(chatId(), [userMessage('where is 42?')]));
    const tools = message.parts.filter((part) => part.type === 'dynamic-tool');
    expect(tools).toEqual([
      expect.objectContaining({
        type: 'dynamic-tool',
        toolName: 'lookup_order',
        state: 'input-available',
        input: {},
        providerExecuted: true,
      }),
    ]);
    await sdk.exchanges[0]?.ended;
    expectNoSecrets(sdk.exchanges[0]?.data.join('\n') ?? '');
  });

  it('assembles the tool call with its arguments under the "full" policy', async () => {
    const { sdk } = await setup('globex', { tenants: { globex: { ...TENANTS.globex } } });
    const message = await assemble(await sdk.send(chatId(), [userMessage('where is 42?')]));
    const tools = message.parts.filter((part) => part.type === 'dynamic-tool');
    expect(tools).toEqual([
      expect.objectContaining({
        toolName: 'lookup_order',
        input: { order_id: '42', secret_arg: CANARY_TOOL_ARG },
      }),
    ]);
  });

  it("sends only frames the SDK's own chunk schema accepts, in the protocol's order, then [DONE]", async () => {
    const { sdk } = await setup();
    await assemble(await sdk.send(chatId(), [userMessage('hello there')]));
    const [exchange] = sdk.exchanges;
    if (!exchange) throw new Error('no exchange');
    const chunks = await expectSdkFrames(exchange);
    const types = chunks.map((chunk) => chunk.type);
    const deltas = types.filter((type) => type === 'text-delta').length;
    expect(deltas).toBe(3); // "Echo:", " hello", " there"
    expect(types).toEqual([
      'start',
      'start-step',
      'text-start',
      ...Array(deltas).fill('text-delta'),
      'text-end',
      'tool-input-available',
      'finish-step',
      'finish',
    ]);
    expect(chunks[0]).toEqual({ type: 'start', messageId: expect.stringMatching(/^run_/) });
  });

  it('maps the chat id to one thread of the caller, created on the first message only', async () => {
    const { gw, user, sdk } = await setup();
    const id = chatId();
    const before = await gw.emulator.requestCount('POST /threads/');
    await assemble(await sdk.send(id, [userMessage('first')]));
    await assemble(await sdk.send(id, [userMessage('first'), userMessage('second')]));
    expect(await threadsOf(user)).toHaveLength(1);
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(before + 1);
  });

  it('sends only the last user message upstream: the thread keeps the history', async () => {
    const { user, sdk } = await setup();
    const id = chatId();
    const first = await assemble(await sdk.send(id, [userMessage('first')]));
    const history = [userMessage('first'), first, userMessage('second')];
    expect(textOf(await assemble(await sdk.send(id, history)))).toBe('Echo: second');
    const [threadId] = await threadsOf(user);
    const res = await user.edge.v1.threads[':thread_id'].messages.$get({
      param: { thread_id: threadId ?? '' },
      query: {},
    });
    expect(res.status).toBe(200);
    expect((await res.json()).messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'first'],
      ['assistant', 'Echo: first'],
      ['user', 'second'],
      ['assistant', 'Echo: second'],
    ]);
  });

  it("joins the last message's text parts with a line break and ignores its other parts", async () => {
    const { sdk } = await setup();
    const message = {
      id: 'm1',
      role: 'user' as const,
      parts: [
        { type: 'text' as const, text: 'one' },
        { type: 'file' as const, mediaType: 'image/png', url: 'data:image/png;base64,AA==' },
        { type: 'text' as const, text: 'two' },
      ],
    };
    expect(textOf(await assemble(await sdk.send(chatId(), [message])))).toBe('Echo: one\ntwo');
  });

  it('shows no tool call under the "none" policy', async () => {
    const { sdk } = await setup('acme', { tenants: { acme: { ...TENANTS.acme, tool_calls: 'none' } } });
    const message = await assemble(await sdk.send(chatId(), [userMessage('where is 42?')]));
    expect(message.parts.map((part) => part.type)).not.toContain('dynamic-tool');
    await sdk.exchanges[0]?.ended;
    expect(sdk.exchanges[0]?.data.join('\n')).not.toMatch(/lookup_order/);
  });

  it('continues the chat when the frontend sends only the last message (prepareSendMessagesRequest)', async () => {
    const { gw, user } = await setup();
    const sdk = chatFrontend(gw.fetch, user, {
      prepareSendMessagesRequest: ({ id, messages, trigger, messageId, body }) => ({
        body: { ...body, id, messages: messages.slice(-1), trigger, messageId },
      }),
    });
    const id = chatId();
    const first = await assemble(await sdk.send(id, [userMessage('first')]));
    const second = await sdk.send(id, [userMessage('first'), first, userMessage('second')]);
    expect(textOf(await assemble(second))).toBe('Echo: second');
    expect(await threadsOf(user)).toHaveLength(1);
  });

  it('ignores the fields the SDK or a frontend adds to the body', async () => {
    const { sdk } = await setup();
    const stream = await sdk.send(chatId(), [userMessage('hello there')], {
      body: { model: 'whatever', data: { x: 1 } },
    });
    expect(textOf(await assemble(stream))).toBe('Echo: hello there');
  });

  it("gives two users' equal chat ids two different threads", async () => {
    const { gw, user, sdk } = await setup();
    const other = await gw.caller('acme');
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('mine')]));
    await assemble(await chatFrontend(gw.fetch, other).send(id, [userMessage('theirs')]));
    const [mine] = await threadsOf(user);
    const theirs = await threadsOf(other);
    expect(theirs).toHaveLength(1);
    expect(theirs).not.toContain(mine);
  });

  it('creates the assistant_id given with the first message, if the tenant allows it', async () => {
    const { user, sdk } = await setup();
    await assemble(await sdk.send(chatId(), [userMessage('hi')], { body: { assistant_id: 'asst_sales' } }));
    const res = await user.edge.v1.threads.$get({ query: {} });
    expect((await res.json()).threads.map((t) => t.assistant_id)).toEqual(['asst_sales']);
  });

  it('creates a new thread for a chat whose thread was deleted', async () => {
    const { user, sdk } = await setup();
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('first')]));
    const [old] = await threadsOf(user);
    const deleted = await user.edge.v1.threads[':thread_id'].$delete({ param: { thread_id: old ?? '' } });
    expect(deleted.status).toBe(204);
    expect(textOf(await assemble(await sdk.send(id, [userMessage('again')])))).toBe('Echo: again');
    const now = await threadsOf(user);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(old);
  });

  it('writes a keep-alive comment while the upstream is silent', async () => {
    const { gw, sdk } = await setup('acme', { bindings: { STREAM_PING_MS: '40' } });
    await gw.emulator.configure({ reply: 'slow reply', stream: { pace_ms: 200 } });
    await assemble(await sdk.send(chatId(), [userMessage('x')]));
    await sdk.exchanges[0]?.ended;
    expect(sdk.exchanges[0]?.comments).toContain('ping');
  });

  it('cancels the upstream run and frees the slot once the frontend stopped and the detach grace passed', async () => {
    // A chat turn is a run like any other: a frontend that stops detaches, and the run
    // goes on for the grace (a reload resumes it) before it is cancelled.
    const { gw, user, sdk } = await setup('acme', { bindings: { RUN_DETACH_GRACE_MS: '100' } });
    await gw.emulator.configure({ reply: 'a b c d e f g h i j', stream: { pace_ms: 100 } });
    const abort = new AbortController();
    const reader = (await sdk.send(chatId(), [userMessage('x')], { abortSignal: abort.signal })).getReader();
    await reader.read(); // start
    abort.abort();
    await reader.cancel().catch(() => undefined);
    const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
    expect(stats.streams_completed).toBe(0);
    await expect.poll(async () => (await usage(user)).streams.active).toBe(0);
  });
});

describe('CORS on the chat routes', () => {
  it('allows the preflight of POST /v1/chat with Authorization and Content-Type', async () => {
    const { user } = await setup();
    const res = await user.request('OPTIONS', '/v1/chat', {
      auth: false,
      headers: {
        origin: 'https://app.acme.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.acme.example');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Content-Type/);
  });

  it("lets the tenant's origin read the stream", async () => {
    const { user } = await setup();
    const res = await user.request('POST', '/v1/chat', {
      headers: { origin: 'https://app.acme.example' },
      json: { id: chatId(), messages: [userMessage('x')], trigger: 'submit-message' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.acme.example');
    await res.body?.cancel();
  });
});
