import { describe, expect, it } from 'vitest';
import {
  createSseParser,
  parseRateLimit,
  readError,
  type SseEvent,
  sseEvents,
} from '../../public/assets/edge.js';

/** Feeds `chunks` to the pages' SSE parser; returns what it dispatched. */
function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const parser = createSseParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return { events, comments };
}

describe('public/assets/edge.js (the /docs and /demo pages)', () => {
  it('parses the gateway frames, pings and all line ends, however the chunks split', () => {
    const frames =
      'id: 1\nevent: start\ndata: {"run_id":"r"}\n\n: ping\n\n' +
      'id: 2\r\nevent: content\r\ndata: {"delta":"a\\nb"}\r\n\r\n' +
      'id: 3\revent: done\rdata: {}\r\r';
    const expected = [
      { id: '1', event: 'start', data: '{"run_id":"r"}' },
      { id: '2', event: 'content', data: '{"delta":"a\\nb"}' },
      { id: '3', event: 'done', data: '{}' },
    ];
    expect(parse([frames])).toEqual({ events: expected, comments: ['ping'] });
    // Every split point, including between the CR and LF of a CRLF.
    for (let cut = 1; cut < frames.length; cut += 1) {
      expect(parse([frames.slice(0, cut), frames.slice(cut)]).events).toEqual(expected);
    }
  });

  it('joins multi-line data and ignores events without data', () => {
    const { events } = parse(['event: x\n\ndata:one\ndata: two\n\n']);
    expect(events).toEqual([{ event: 'message', data: 'one\ntwo', id: '' }]);
  });

  it('yields the events of a fetch body the moment they arrive', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode('event: content\ndata: {"delta":"é"}\n\n');
        controller.enqueue(bytes.slice(0, 27)); // inside the two-byte é
        controller.enqueue(bytes.slice(27));
        controller.close();
      },
    });
    const seen: SseEvent[] = [];
    for await (const event of sseEvents(new Response(body))) seen.push(event);
    expect(seen).toEqual([{ event: 'content', data: '{"delta":"é"}', id: '' }]);
  });

  it('reads the contract error body, and stands in for one that is not', async () => {
    const body = {
      error: 'Too Many Requests',
      detail: 'Slow down.',
      code: 'RATE_LIMITED',
      request_id: 'req_1',
    };
    const limited = new Response(JSON.stringify(body), { status: 429, headers: { 'Retry-After': '3' } });
    expect(await readError(limited)).toEqual({
      status: 429,
      code: 'RATE_LIMITED',
      detail: 'Slow down.',
      request_id: 'req_1',
      field: undefined,
      retry_after: '3',
    });
    const html = new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'X-Request-Id': 'req_2' } });
    expect(await readError(html)).toMatchObject({ status: 502, code: 'HTTP_ERROR', request_id: 'req_2' });
  });

  it('reads the RateLimit headers the gateway sends', () => {
    expect(
      parseRateLimit('"user";r=118;t=1, "tenant";r=2990;t=0', '"user";q=120;w=60, "tenant";q=3000;w=60'),
    ).toEqual([
      { name: 'user', remaining: 118, reset: 1, quota: 120, window: 60 },
      { name: 'tenant', remaining: 2990, reset: 0, quota: 3000, window: 60 },
    ]);
    expect(parseRateLimit(null, null)).toEqual([]);
  });
});
