import { DefaultChatTransport, readUIMessageStream, type UIMessage, uiMessageChunkSchema } from 'ai';
import { createParser } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { UiMessageMapper, uiMessageStream } from '../../src/chat/ui-stream';
import type { RelayEvent } from '../../src/stream/events';
import { runError } from '../../src/stream/events';

const types = (mapper: UiMessageMapper, events: RelayEvent[]) =>
  events.flatMap((event) => mapper.map(event)).map((chunk) => chunk.type);

/** The bytes `uiMessageStream` writes for `events`, as text. */
async function encode(events: RelayEvent[], pingMs = 60_000): Promise<string> {
  const source = new ReadableStream<RelayEvent>({
    start(controller) {
      for (const event of events) controller.enqueue(event);
      controller.close();
    },
  });
  const body = source.pipeThrough(uiMessageStream({ pingMs, fallbackMessageId: 'msg_fallback' }));
  return new Response(body).text();
}

/** The `data:` payloads of an SSE text. */
function dataOf(text: string): string[] {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(text);
  return data;
}

describe('UiMessageMapper', () => {
  it('starts a new text part for content after a tool call', () => {
    const mapper = new UiMessageMapper('m');
    const events: RelayEvent[] = [
      { type: 'start', run_id: 'run_1' },
      { type: 'content', delta: 'a' },
      { type: 'tool_call', name: 't' },
      { type: 'content', delta: 'b' },
      { type: 'done' },
    ];
    const chunks = events.flatMap((event) => mapper.map(event));
    expect(chunks.map((c) => c.type)).toEqual([
      'start',
      'start-step',
      'text-start',
      'text-delta',
      'text-end',
      'tool-input-available',
      'text-start',
      'text-delta',
      'text-end',
      'finish-step',
      'finish',
    ]);
    const ids = chunks.flatMap((c) => ('id' in c ? [c.id] : 'toolCallId' in c ? [c.toolCallId] : []));
    expect(new Set(ids)).toEqual(new Set(['run_1_text_1', 'run_1_tool_2', 'run_1_text_3']));
  });

  it('closes an open text part before an error, and maps nothing after the end', () => {
    const mapper = new UiMessageMapper('m');
    const events: RelayEvent[] = [
      { type: 'start', run_id: 'run_1' },
      { type: 'content', delta: 'a' },
      runError('UPSTREAM_TIMEOUT'),
      { type: 'content', delta: 'late' },
      { type: 'done' },
    ];
    expect(types(mapper, events)).toEqual([
      'start',
      'start-step',
      'text-start',
      'text-delta',
      'text-end',
      'error',
    ]);
  });

  it('uses the fallback message id when the run has no id', () => {
    expect(new UiMessageMapper('msg_x').map({ type: 'start', run_id: '' })[0]).toEqual({
      type: 'start',
      messageId: 'msg_x',
    });
  });

  it('passes the arguments a "full" policy kept, and {} when the policy kept none', () => {
    const mapper = new UiMessageMapper('m');
    const full = mapper.map({ type: 'tool_call', name: 't', args: { a: 1 } })[0];
    const named = mapper.map({ type: 'tool_call', name: 't' })[0];
    expect(full).toMatchObject({ input: { a: 1 }, dynamic: true, providerExecuted: true });
    expect(named).toMatchObject({ input: {} });
  });
});

describe('uiMessageStream', () => {
  it('writes frames the SDK accepts, then [DONE], and nothing a value contains can add a frame', async () => {
    const hostile = 'x\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n';
    const text = await encode([
      { type: 'start', run_id: 'run_1' },
      { type: 'content', delta: hostile },
      { type: 'tool_call', name: hostile, args: { v: hostile } },
      { type: 'done' },
    ]);
    const data = dataOf(text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.filter((d) => d === '[DONE]')).toHaveLength(1);
    const schema = uiMessageChunkSchema();
    for (const payload of data.slice(0, -1)) {
      expect((await schema.validate?.(JSON.parse(payload)))?.success, payload).toBe(true);
    }
    // Every frame is one `data:` line and a blank line.
    for (const frame of text.split('\n\n').filter(Boolean)) expect(frame.split('\n')).toHaveLength(1);
  });

  it("is read by the SDK's readUIMessageStream as the run's text", async () => {
    const text = await encode([
      { type: 'start', run_id: 'run_1' },
      { type: 'content', delta: 'Hello' },
      { type: 'content', delta: ', world' },
      { type: 'done' },
    ]);
    // The transport's own response parsing (processResponseStream), fed the bytes.
    const transport = new DefaultChatTransport<UIMessage>({
      api: 'https://edge.test/v1/chat',
      fetch: async () => new Response(text, { headers: { 'content-type': 'text/event-stream' } }),
    });
    const stream = await transport.sendMessages({
      trigger: 'submit-message',
      chatId: 'c',
      messageId: undefined,
      messages: [],
      abortSignal: undefined,
    });
    let last: UIMessage | undefined;
    for await (const message of readUIMessageStream<UIMessage>({ stream })) last = message;
    expect(last?.id).toBe('run_1');
    expect(last?.parts).toEqual([
      { type: 'step-start' },
      expect.objectContaining({ type: 'text', text: 'Hello, world', state: 'done' }),
    ]);
  });

  it('ends a stream that stops without done or error with an error, then [DONE]', async () => {
    const data = dataOf(await encode([{ type: 'start', run_id: 'run_1' }]));
    expect(data.slice(-2)).toEqual([
      JSON.stringify({
        type: 'error',
        errorText: 'UPSTREAM_FAILED: The upstream stopped before the run finished.',
      }),
      '[DONE]',
    ]);
  });

  it('writes a ping comment while no event arrives', async () => {
    let push: ((event: RelayEvent) => void) | undefined;
    let close: (() => void) | undefined;
    const source = new ReadableStream<RelayEvent>({
      start(controller) {
        push = (event) => controller.enqueue(event);
        close = () => controller.close();
      },
    });
    const reader = source.pipeThrough(uiMessageStream({ pingMs: 20, fallbackMessageId: 'm' })).getReader();
    push?.({ type: 'start', run_id: 'run_1' });
    const decoder = new TextDecoder();
    let seen = '';
    while (!seen.includes(': ping\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value);
    }
    expect(seen).toContain(': ping\n\n');
    push?.({ type: 'done' });
    close?.();
    await reader.cancel();
  });
});
