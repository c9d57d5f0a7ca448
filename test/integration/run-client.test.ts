import { describe, expect, it } from 'vitest';
import { createRunClient, EdgeError, type RunEvent } from '../../src/client';
import { newThread } from '../helpers/fixtures';
import { testGateway } from '../helpers/gateway';

/**
 * The typed client's durable runs: a stream that drops is resumed by the client itself
 * (`Last-Event-ID`), each event yielded once, and the upstream run paid once.
 */
async function setup() {
  const gw = testGateway({ bindings: { RUN_DETACH_GRACE_MS: '5000' } });
  await gw.emulator.configure({ reply: 'one two three four five six seven eight', stream: { pace_ms: 40 } });
  const alice = await gw.caller('acme');
  const threadId = await newThread(alice);
  let drops = 0;
  let calls = 0;
  /** Calls the Worker; the first `drops` event streams break after two chunks. */
  const flaky = (dropFirst: number) => async (input: RequestInfo | URL, init?: RequestInit) => {
    calls += 1;
    const url = input instanceof Request ? input.url : String(input);
    const res = await gw.fetch(url, init);
    if (
      !res.body ||
      !res.headers.get('content-type')?.startsWith('text/event-stream') ||
      drops >= dropFirst
    ) {
      return res;
    }
    drops += 1;
    let chunks = 0;
    const cut = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (++chunks > 3) controller.error(new TypeError('network connection lost'));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(cut, res);
  };
  const client = (dropFirst: number) =>
    createRunClient({
      baseUrl: 'https://edge.test',
      token: alice.token,
      fetch: flaky(dropFirst),
      retryDelayMs: 10,
    });
  return { gw, threadId, client, counts: () => ({ drops, calls }) };
}

async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

const reply = (events: RunEvent[]) => events.flatMap((e) => (e.type === 'content' ? [e.delta] : [])).join('');

describe('createRunClient', () => {
  it('resumes a stream that dropped twice and yields every event exactly once', async () => {
    const { gw, threadId, client, counts } = await setup();
    const events = await collect(client(2).start(threadId, 'hi'));
    expect(counts().drops).toBe(2);
    expect(reply(events)).toBe('one two three four five six seven eight');
    expect(events.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(events.at(-1)).toEqual({ type: 'done' });
    expect((await gw.emulator.stats()).runs).toBe(1);
  });

  it('reads a known run with resume(), from the start or after an event id', async () => {
    const { threadId, client } = await setup();
    const first = client(0).start(threadId, 'hi');
    const head = await first.next();
    expect(head.value).toMatchObject({ type: 'start' });
    const runId = head.value && head.value.type === 'start' ? head.value.run_id : '';
    const all = await collect(client(0).resume(threadId, runId));
    const after2 = await collect(client(0).resume(threadId, runId, `${runId}:2`));
    expect(after2).toEqual(all.slice(2));
    await first.return(undefined);
  });

  it('gives up on a refusal at once (404 for a run that is not the caller’s)', async () => {
    const { threadId, client, counts } = await setup();
    const before = counts().calls;
    await expect(collect(client(0).resume(threadId, 'run_00000000000000000000000000000000'))).rejects.toThrow(
      EdgeError,
    );
    expect(counts().calls - before).toBe(1);
  });
});
