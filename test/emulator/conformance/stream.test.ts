import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANARY_INTERNAL, CANARY_TOOL_ARG } from '../../emulator/canaries';
import {
  bearer,
  createThread,
  freshEmulator,
  loginAndGetProjectToken,
  parseSse,
  readChunks,
  sseEvents,
} from '../../helpers/emulator';
import { JsonObject, parseJson } from '../../helpers/json';

const emu = freshEmulator('stream');
const base = emu.baseUrl;
let token = '';
let thread = '';

const DEFAULT_EVENTS = [
  { type: 'start', run_id: expect.stringMatching(/^run_\d+$/) },
  { type: 'content', delta: 'Echo:' },
  { type: 'content', delta: ' hello' },
  { type: 'content', delta: ' world' },
  { type: 'tool_call', name: 'lookup_order', args: { order_id: '42', secret_arg: CANARY_TOOL_ARG } },
  { type: 'done' },
];

function run(
  message = 'hello world',
  extra: Record<string, unknown> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${base}/threads/${thread}/run`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ message, ...extra }),
    ...(signal ? { signal } : {}),
  });
}

beforeAll(async () => {
  await emu.reset();
  ({ projectToken: token } = await loginAndGetProjectToken(base, 'proj_acme'));
  thread = await createThread(base, token);
});

beforeEach(async () => {
  await emu.configure({
    reply: null,
    tool_calls: null,
    stream: {
      pace_ms: 0,
      stall_before_first_byte_ms: 0,
      delay_headers_ms: 0,
      fail_after_events: null,
      fail_mode: 'error',
      line_ending: 'lf',
      split_chunks: false,
      extras: false,
      raw: null,
    },
  });
});

describe('POST /threads/{id}/run', () => {
  it('streams start, word deltas, the tool call and done in SSE, and stores both messages', async () => {
    const before = await emu.stats();
    const res = await run();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-ratelimit-limit')).toBe('300');
    const text = await res.text();
    expect(text.startsWith('data: {"type":"start"')).toBe(true);
    expect(text.endsWith('data: {"type":"done"}\n\n')).toBe(true);
    expect(sseEvents(text)).toEqual(DEFAULT_EVENTS);
    const stats = await emu.waitForStats((s) => s.streams_completed === before.streams_completed + 1);
    expect(stats.runs).toBe(before.runs + 1);
    expect(stats.streams_opened).toBe(before.streams_opened + 1);
    const got = await fetch(`${base}/threads/${thread}`, { headers: bearer(token) });
    const t = await parseJson(got, z.looseObject({ messages: z.array(JsonObject) }));
    expect(t.messages.slice(-2)).toMatchObject([
      { role: 'user', content: 'hello world', _internal: CANARY_INTERNAL },
      { role: 'assistant', content: 'Echo: hello world', _internal: CANARY_INTERNAL },
    ]);
  });

  it('answers JSON with stream=false', async () => {
    const res = await run('hi', { stream: false });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      run_id: expect.stringMatching(/^run_/),
      content: 'Echo: hi',
      tool_calls: [{ name: 'lookup_order', args: { order_id: '42', secret_arg: CANARY_TOOL_ARG } }],
    });
  });

  it('uses the reply and tool_calls knobs', async () => {
    await emu.configure({ reply: 'Custom  reply', tool_calls: [] });
    expect(sseEvents(await (await run()).text())).toEqual([
      { type: 'start', run_id: expect.any(String) },
      { type: 'content', delta: 'Custom' },
      { type: 'content', delta: '  reply' },
      { type: 'done' },
    ]);
    await emu.configure({
      tool_calls: [
        { name: 'a', args: { x: 1 } },
        { name: 'b', args: {} },
      ],
    });
    const body = await parseJson(await run('q', { stream: false }), JsonObject);
    expect(body).toMatchObject({ content: 'Custom  reply', tool_calls: [{ name: 'a' }, { name: 'b' }] });
  });

  it('validates the body and the thread', async () => {
    const res = await run('');
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: 'Validation Error', field: 'message' });
    const missing = await fetch(`${base}/threads/thread_nope/run`, {
      method: 'POST',
      headers: bearer(token),
      body: '{"message":"x"}',
    });
    expect(missing.status).toBe(404);
  });
});

describe('stream knobs', () => {
  it('pace_ms spaces the events', async () => {
    await emu.configure({ stream: { pace_ms: 40 } });
    const t0 = Date.now();
    const { chunks } = await readChunks(await run());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 * 40 - 10);
    expect(chunks.length).toBe(6);
  });

  it('fail_after_events errors the body after N events, without done', async () => {
    await emu.configure({ stream: { fail_after_events: 2 } });
    const before = await emu.stats();
    const reader = (await run()).body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    let text = '';
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += decoder.decode(value, { stream: true });
        }
      })(),
    ).rejects.toThrow();
    expect(sseEvents(text).map((e) => e.type)).toEqual(['start', 'content']);
    const stats = await emu.waitForStats((s) => s.streams_failed === before.streams_failed + 1);
    expect(stats.streams_completed).toBe(before.streams_completed);
  });

  it('fail_mode=close ends the body cleanly without done', async () => {
    await emu.configure({ stream: { fail_after_events: 3, fail_mode: 'close' } });
    const text = await (await run()).text();
    expect(sseEvents(text).map((e) => e.type)).toEqual(['start', 'content', 'content']);
  });

  it.each([
    ['crlf', '\r\n'],
    ['cr', '\r'],
  ] as const)('line_ending=%s', async (ending, eol) => {
    await emu.configure({ stream: { line_ending: ending } });
    const text = await (await run()).text();
    expect(text.startsWith(`data: {"type":"start","run_id":`)).toBe(true);
    expect(text.endsWith(`data: {"type":"done"}${eol}${eol}`)).toBe(true);
    if (ending === 'cr') expect(text).not.toContain('\n');
    else expect(text.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/);
    expect(sseEvents(text)).toEqual(DEFAULT_EVENTS);
  });

  it('split_chunks splits mid-`data:`, inside a UTF-8 character and between the line ends', async () => {
    await emu.configure({ reply: 'Grüße aus Köln', stream: { split_chunks: true, line_ending: 'crlf' } });
    const { chunks, text } = await readChunks(await run());
    expect(chunks.length).toBeGreaterThanOrEqual(3 * 6);
    const strings = chunks.map((c) => new TextDecoder().decode(c));
    expect(strings[0]).toBe('da');
    expect(strings.filter((s) => s === '\n\r\n').length).toBe(6);
    const broken = chunks.some((c) => {
      const last = c[c.length - 1] ?? 0;
      return last >= 0xc0;
    });
    expect(broken).toBe(true);
    expect(sseEvents(text).map((e) => e.delta ?? e.type)).toEqual([
      'start',
      'Grüße',
      ' aus',
      ' Köln',
      'tool_call',
      'done',
    ]);
  });

  it('extras adds a comment, an event line, multi-line data, a usage event and [DONE]', async () => {
    await emu.configure({ stream: { extras: true } });
    const text = await (await run()).text();
    expect(text.startsWith(': ')).toBe(true);
    expect(text).toContain('event: message\ndata: {"type":"start"');
    expect(text).toContain('data: {"type":"content",\ndata: "delta":"Echo:"}\n\n');
    expect(text.endsWith('data: {"type":"done"}\n\ndata: [DONE]\n\n')).toBe(true);
    const messages = parseSse(text);
    expect(messages[0]).toEqual({ event: 'message', data: expect.stringContaining('"start"') });
    expect(messages.at(-1)?.data).toBe('[DONE]');
    const events = sseEvents(text);
    expect(events.map((e) => e.type)).toEqual([
      'start',
      'content',
      'content',
      'content',
      'tool_call',
      'usage',
      'done',
    ]);
    expect(events[5]).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
  });

  it('raw writes the given strings verbatim, one chunk each', async () => {
    const raw = ['data: {"type":"content","delta":"<script>"}\n\n', 'event: evil\n', 'data: not json\n\n'];
    await emu.configure({ stream: { raw, pace_ms: 5 } });
    const { chunks, text } = await readChunks(await run());
    expect(chunks.map((c) => new TextDecoder().decode(c))).toEqual(raw);
    expect(text).toBe(raw.join(''));
  });

  it('stall_before_first_byte_ms sends headers at once and holds the first body byte', async () => {
    await emu.configure({ stream: { stall_before_first_byte_ms: 300 } });
    const t0 = Date.now();
    const res = await run();
    const headersAt = Date.now() - t0;
    const reader = res.body?.getReader();
    await reader?.read();
    const firstByteAt = Date.now() - t0;
    await reader?.cancel();
    expect(headersAt).toBeLessThan(250);
    expect(firstByteAt).toBeGreaterThanOrEqual(290);
  });

  it('counts a client cancelling the stream', async () => {
    await emu.configure({
      reply: 'one two three four five six seven eight nine ten',
      stream: { pace_ms: 30 },
    });
    const before = await emu.stats();
    const reader = (await run()).body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    let text = '';
    while (parseSse(text).length < 2) {
      const { done, value } = await reader.read();
      if (done) throw new Error('stream ended early');
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    const stats = await emu.waitForStats((s) => s.streams_cancelled === before.streams_cancelled + 1);
    expect(stats.streams_completed).toBe(before.streams_completed);
    expect(stats.streams_opened).toBe(before.streams_opened + 1);
  });

  it('delay_headers_ms records the run, then holds the headers back', async () => {
    await emu.configure({ stream: { delay_headers_ms: 200 } });
    const before = await emu.stats();
    let answered = false;
    const res = run().then((r) => {
      answered = true;
      return r;
    });
    await emu.waitForStats((s) => s.runs === before.runs + 1);
    expect(answered).toBe(false);
    expect(sseEvents(await (await res).text())).toEqual(DEFAULT_EVENTS);
  });

  it('delay_headers_ms: a client aborting before the headers is a cancelled stream', async () => {
    await emu.configure({ stream: { delay_headers_ms: 60_000 } });
    const before = await emu.stats();
    const abort = new AbortController();
    const res = run('hello world', {}, abort.signal);
    await emu.waitForStats((s) => s.runs === before.runs + 1);
    abort.abort();
    await expect(res).rejects.toThrow();
    const stats = await emu.waitForStats((s) => s.streams_cancelled === before.streams_cancelled + 1);
    expect(stats.streams_opened).toBe(before.streams_opened + 1);
    expect(stats.streams_completed).toBe(before.streams_completed);
  });
});
