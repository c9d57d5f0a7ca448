import { afterEach, describe, expect, it, vi } from 'vitest';
import { type RelayOptions, relaySse } from '../../src/stream/relay';
import { parseSse } from '../helpers/emulator';

const body = (text: string) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });

function options(onEnd: () => void): RelayOptions {
  return {
    policy: 'full',
    idleTimeoutMs: 10_000,
    maxDurationMs: 10_000,
    maxEventBytes: 1024 * 1024,
    onEnd,
    requestId: 'req-relay-unit',
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('relay: an exception while handling an event', () => {
  it('ends the stream with exactly one error event, and onEnd runs once', async () => {
    // Whatever throws inside the parser's callback (here: serializing a content frame),
    // the caller gets the events so far, one `error`, and a clean close.
    const stringify = JSON.stringify;
    vi.spyOn(JSON, 'stringify').mockImplementation((value, ...rest) => {
      if (value !== null && typeof value === 'object' && 'delta' in value) throw new TypeError('boom');
      return stringify(value, ...rest);
    });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const onEnd = vi.fn();
    const upstream = body(
      'data: {"type":"start","run_id":"r"}\n\n' +
        'data: {"type":"content","delta":"hi"}\n\n' +
        'data: {"type":"content","delta":"again"}\n\n' +
        'data: {"type":"done"}\n\n',
    );
    const text = await new Response(relaySse(upstream, options(onEnd), 60_000)).text();
    const frames = parseSse(text).map((m) => [m.event, JSON.parse(m.data)]);
    expect(frames).toEqual([
      ['start', { run_id: 'r' }],
      [
        'error',
        { code: 'UPSTREAM_BAD_RESPONSE', detail: 'The upstream sent a stream the gateway cannot read.' },
      ],
    ]);
    expect(onEnd).toHaveBeenCalledTimes(1);
    const lines = warn.mock.calls.map(([line]) => String(line));
    expect(
      lines.some((l) => l.includes('unreadable upstream event') && l.includes('"error":"TypeError"')),
    ).toBe(true);
    expect(lines.join('\n')).not.toContain('boom');
  });
});
