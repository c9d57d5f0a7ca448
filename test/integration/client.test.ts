import { describe, expect, expectTypeOf, it } from 'vitest';
import { EdgeError, type RunEvent, runEvents } from '../../src/client';
import type { RelayEvent } from '../../src/stream/events';
import { TENANTS } from '../fixtures/tenants';
import { testGateway } from '../helpers/gateway';

/** A caller's typed client (`createEdgeClient`), whose `fetch` calls the real Worker entry point. */
async function client(tenant: 'acme' | 'globex' = 'acme') {
  // A run nobody is attached to is cancelled after this grace (contract section 4).
  const gw = testGateway({
    tenants: { [tenant]: { ...TENANTS[tenant] } },
    bindings: { RUN_DETACH_GRACE_MS: '100' },
  });
  const { edge } = await gw.caller(tenant);
  return { gw, edge };
}

async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

describe('typed client (hc<AppType> + runEvents)', () => {
  it('lists the assistants, typed', async () => {
    const { edge } = await client();
    const listed = await edge.v1.assistants.$get();
    expect(listed.status).toBe(200);
    if (!listed.ok) throw new Error('unreachable');
    const { assistants } = await listed.json();
    expectTypeOf(assistants).toEqualTypeOf<{ assistant_id: string; name: string }[]>();
    expect(assistants.map((a) => a.assistant_id)).toEqual(['asst_support', 'asst_sales']);
  });

  it('creates a thread, typed', async () => {
    const { edge } = await client();
    const created = await edge.v1.threads.$post({ json: { assistant_id: 'asst_sales', name: 'typed' } });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    const thread = await created.json();
    expectTypeOf(thread.thread_id).toEqualTypeOf<string>();
    expect(thread).toMatchObject({ name: 'typed', assistant_id: 'asst_sales' });
  });

  it('reads a streamed run to done with runEvents', async () => {
    const { edge } = await client();
    const created = await edge.v1.threads.$post({ json: {} });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    const { thread_id } = await created.json();
    const res = await edge.v1.threads[':thread_id'].run.$post({
      param: { thread_id },
      json: { message: 'hello typed client' },
    });
    const events = await collect(runEvents(res));
    expect(events[0]).toMatchObject({ type: 'start', run_id: expect.stringMatching(/^run_/) });
    expect(events.at(-1)).toEqual({ type: 'done' });
    const text = events.flatMap((e) => (e.type === 'content' ? [e.delta] : [])).join('');
    expect(text).toBe('Echo: hello typed client');
  });

  it('types the routes: inputs are checked at compile time', async () => {
    const { edge } = await client();
    const thread = await edge.v1.threads.$post({ json: {} });
    if (thread.status !== 201) throw new Error(`create: ${thread.status}`);
    const { thread_id } = await thread.json();
    const run = edge.v1.threads[':thread_id'].run;
    // @ts-expect-error: the run body's field is `message`, not `text`
    const wrong = await run.$post({ param: { thread_id }, json: { text: 'hi' } });
    expect(await EdgeError.from(wrong)).toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
      field: 'message',
    });
    const usage = await edge.v1.usage.$get();
    if (!usage.ok) throw new Error(`usage: ${usage.status}`);
    expectTypeOf((await usage.json()).rate.user.remaining).toEqualTypeOf<number>();
    // Every event the gateway can relay is a RunEvent.
    expectTypeOf<RelayEvent>().toExtend<RunEvent>();
  });

  it('yields tool calls the way the tenant policy cuts them', async () => {
    const { gw, edge } = await client('globex');
    await gw.emulator.configure({ tool_calls: [{ name: 'lookup', args: { q: 'x' } }] });
    const thread = await edge.v1.threads.$post({ json: {} });
    if (thread.status !== 201) throw new Error(`create: ${thread.status}`);
    const { thread_id } = await thread.json();
    const res = await edge.v1.threads[':thread_id'].run.$post({
      param: { thread_id },
      json: { message: 'm' },
    });
    const calls = (await collect(runEvents(res))).filter((e) => e.type === 'tool_call');
    expect(calls).toEqual([{ type: 'tool_call', name: 'lookup', args: { q: 'x' } }]);
  });

  it('throws the contract error body in an EdgeError', async () => {
    const { edge } = await client();
    const res = await edge.v1.threads[':thread_id'].run.$post({
      param: { thread_id: 'thread_not_mine' },
      json: { message: 'x' },
    });
    const error = await collect(runEvents(res)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeError);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND', requestId: expect.any(String) });
  });

  it('cancels the run upstream once the caller stopped iterating and the detach grace passed', async () => {
    const { gw, edge } = await client();
    await gw.emulator.configure({ reply: 'a b c d e f g h i j', stream: { pace_ms: 100 } });
    const thread = await edge.v1.threads.$post({ json: {} });
    if (thread.status !== 201) throw new Error(`create: ${thread.status}`);
    const { thread_id } = await thread.json();
    const res = await edge.v1.threads[':thread_id'].run.$post({
      param: { thread_id },
      json: { message: 'm' },
    });
    for await (const event of runEvents(res)) if (event.type === 'content') break;
    const stats = await gw.emulator.waitForStats((s) => s.streams_cancelled === 1);
    expect(stats.streams_completed).toBe(0);
  });

  it('reports a stream that breaks off before done', async () => {
    const body = new Response(
      'event: start\ndata: {"run_id":"run_1"}\n\n: ping\n\nevent: content\ndata: {"delta":"a"}\n\n',
    );
    const res = new Response(body.body, { headers: { 'Content-Type': 'text/event-stream' } });
    const seen: RunEvent[] = [];
    await expect(
      (async () => {
        for await (const event of runEvents(res)) seen.push(event);
      })(),
    ).rejects.toThrow(/ended before/);
    expect(seen).toEqual([
      { type: 'start', run_id: 'run_1' },
      { type: 'content', delta: 'a' },
    ]);
  });
});
