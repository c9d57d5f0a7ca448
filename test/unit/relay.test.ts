import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RelayEvent } from '../../src/stream/events';
import { type RelayOptions, relayInto } from '../../src/stream/relay';

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
    // Whatever throws while one event is handled (here: the run's handling of a content
    // event), the run gets the events so far, one `error`, and nothing after it.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const onEnd = vi.fn();
    const upstream = body(
      'data: {"type":"start","run_id":"r"}\n\n' +
        'data: {"type":"content","delta":"hi"}\n\n' +
        'data: {"type":"content","delta":"again"}\n\n' +
        'data: {"type":"done"}\n\n',
    );
    const events: RelayEvent[] = [];
    await relayInto(upstream, options(onEnd), (event) => {
      if (event.type === 'content') throw new TypeError('boom');
      events.push(event);
      return undefined;
    });
    expect(events).toEqual([
      { type: 'start', run_id: 'r' },
      {
        type: 'error',
        code: 'UPSTREAM_BAD_RESPONSE',
        detail: 'The upstream sent a stream the gateway cannot read.',
      },
    ]);
    expect(onEnd).toHaveBeenCalledTimes(1);
    const lines = warn.mock.calls.map(([line]) => String(line));
    expect(
      lines.some((l) => l.includes('unreadable upstream event') && l.includes('"error":"TypeError"')),
    ).toBe(true);
    expect(lines.join('\n')).not.toContain('boom');
  });
});
