import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/stream/events';
import { collectRun } from '../../src/stream/sse';

/** A run's events as the `"stream": false` collector (and a webhook delivery) reads them. */
const events = (...list: RelayEvent[]) =>
  new ReadableStream<RelayEvent>({
    start(controller) {
      for (const event of list) controller.enqueue(event);
      controller.close();
    },
  });

describe('collectRun', () => {
  it('is the result once the run is done', async () => {
    const outcome = await collectRun(
      'run_1',
      events(
        { type: 'start', run_id: 'run_1' },
        { type: 'content', delta: 'a' },
        { type: 'content', delta: 'b' },
        {
          type: 'done',
        },
      ),
    );
    expect(outcome).toEqual({ ok: true, result: { run_id: 'run_1', content: 'ab', tool_calls: [] } });
  });

  // A stream closed early (a refused run a retry attached to, say) is not a result, however much it relayed.
  it('fails a stream that closed with neither done nor error', async () => {
    const outcome = await collectRun(
      'run_1',
      events({ type: 'start', run_id: 'run_1' }, { type: 'content', delta: 'a' }),
    );
    expect(outcome).toMatchObject({ ok: false, error: { type: 'error', code: 'UPSTREAM_FAILED' } });
    expect(await collectRun('run_1', events())).toMatchObject({
      ok: false,
      error: { code: 'UPSTREAM_FAILED' },
    });
  });

  it('names the run it was asked for, not whatever a start event says (a resumed stream has none)', async () => {
    const outcome = await collectRun('run_9', events({ type: 'content', delta: 'x' }, { type: 'done' }));
    expect(outcome).toEqual({ ok: true, result: { run_id: 'run_9', content: 'x', tool_calls: [] } });
  });

  it('is the error the run ended with', async () => {
    const outcome = await collectRun(
      'run_1',
      events({ type: 'start', run_id: 'run_1' }, { type: 'error', code: 'UPSTREAM_TIMEOUT', detail: 'x' }),
    );
    expect(outcome).toEqual({ ok: false, error: { type: 'error', code: 'UPSTREAM_TIMEOUT', detail: 'x' } });
  });
});
