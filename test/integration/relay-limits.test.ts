import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { eventsOf, SseReader } from '../helpers/sse';

/**
 * The relay against an upstream that misbehaves on purpose (issue 12, items 7 and 8):
 * every stream still ends with exactly one `done` or `error`, its buffers stay bounded,
 * and nothing the upstream nests or pads can crash it.
 */

async function newThread(caller: Caller): Promise<string> {
  const res = await caller.request('POST', '/v1/threads', { json: {} });
  expect(res.status).toBe(201);
  return (await parseJson(res, z.object({ thread_id: z.string() }))).thread_id;
}

const START = 'data: {"type":"start","run_id":"run_x"}\n\n';
const DONE = 'data: {"type":"done"}\n\n';
const nestedArgs = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
const toolCall = (args: string) => `data: {"type":"tool_call","name":"lookup_order","args":${args}}\n\n`;

/** A gateway whose upstream streams `raw` verbatim, and a caller of tenant `t` (policy `policy`). */
async function upstreamSends(raw: string[], policy: 'none' | 'name' | 'full' = 'name') {
  const gw = testGateway({ tenants: { t: { ...TENANTS.acme, tool_calls: policy } } });
  await gw.emulator.configure({ stream: { raw } });
  const alice = await gw.caller('t');
  const threadId = await newThread(alice);
  const run = (stream = true) =>
    alice.request('POST', `/v1/threads/${threadId}/run`, { json: { message: 'x', stream } });
  const streamsActive = async () =>
    (
      await parseJson(
        await alice.request('GET', '/v1/usage'),
        z.object({ streams: z.object({ active: z.number() }) }),
      )
    ).streams.active;
  return { gw, run, streamsActive };
}

/** The event types and error codes a stream ended with; asserts exactly one final event. */
async function endOf(res: Response) {
  expect(res.status).toBe(200);
  const events = eventsOf(await new SseReader(res).rest());
  const finals = events.filter((e) => e.type === 'done' || e.type === 'error');
  expect(finals).toHaveLength(1);
  expect(events.at(-1)).toBe(finals[0]);
  return events;
}

describe('relay: the event size cap', () => {
  it('counts bytes since the last event: comment lines between data lines do not reset it', async () => {
    // 30 x (100 KB of data + a comment): one 3 MB event that never ends.
    const chunk = `data: ${'x'.repeat(100_000)}\n: k\n`;
    const { run, streamsActive } = await upstreamSends([START, ...Array<string>(30).fill(chunk)]);
    const events = await endOf(await run());
    expect(events.map((e) => [e.type, e.code])).toEqual([
      ['start', undefined],
      ['error', 'EVENT_TOO_LARGE'],
    ]);
    expect(await streamsActive()).toBe(0);
  });

  it('still passes many events whose sum is far over the cap', async () => {
    const content = `data: {"type":"content","delta":"${'y'.repeat(200_000)}"}\n: keepalive\n\n`;
    const { run } = await upstreamSends([START, ...Array<string>(8).fill(content), DONE]);
    const events = await endOf(await run());
    expect(events.filter((e) => e.type === 'content')).toHaveLength(8);
    expect(events.at(-1)).toEqual({ type: 'done' });
  });

  it('caps what "stream": false collects: 502, the run ended and its slot freed', async () => {
    // Each event is under the 1 MiB event cap; together they pass the 4 MiB result cap.
    const content = `data: {"type":"content","delta":"${'z'.repeat(900_000)}"}\n\n`;
    const { run, streamsActive } = await upstreamSends([START, ...Array<string>(6).fill(content), DONE]);
    const res = await run(false);
    expect(res.status).toBe(502); // (first, so a failure does not print megabytes of body)
    const error = await expectError(res, 502, 'UPSTREAM_BAD_RESPONSE');
    expect(error.detail).toBe('The run’s result is over the size limit.');
    expect(await streamsActive()).toBe(0);
  });
});

describe('relay: tool call arguments', () => {
  // 20,000 levels: JSON.parse copes, a recursive validator or JSON.stringify does not.
  const deep = toolCall(nestedArgs(20_000));

  it('relays a tool call by name without ever reading its arguments (policy "name")', async () => {
    const { run } = await upstreamSends([START, deep, DONE], 'name');
    const events = await endOf(await run());
    expect(events.map((e) => e.type)).toEqual(['start', 'tool_call', 'done']);
    expect(events[1]).toEqual({ type: 'tool_call', name: 'lookup_order' });
  });

  it('answers "stream": false with the tool call by name (policy "name"), not a 500', async () => {
    const { run } = await upstreamSends([START, deep, DONE], 'name');
    const res = await run(false);
    expect(res.status).toBe(200);
    expect((await parseJson(res, z.object({ tool_calls: z.array(z.unknown()) }))).tool_calls).toEqual([
      { name: 'lookup_order' },
    ]);
  });

  it('ends the stream with one error when the arguments nest too deep to relay (policy "full")', async () => {
    const { run, streamsActive } = await upstreamSends([START, deep, DONE], 'full');
    const events = await endOf(await run());
    expect(events.map((e) => [e.type, e.code])).toEqual([
      ['start', undefined],
      ['error', 'UPSTREAM_BAD_RESPONSE'],
    ]);
    expect(await streamsActive()).toBe(0);
  });

  it('relays arguments up to 64 levels deep (policy "full")', async () => {
    const { run } = await upstreamSends([START, toolCall(nestedArgs(64)), DONE], 'full');
    const events = await endOf(await run());
    expect(events.map((e) => e.type)).toEqual(['start', 'tool_call', 'done']);
    expect(JSON.stringify(events[1]?.args)).toBe(nestedArgs(64));
  });
});

describe('relay: the start event', () => {
  const content = (delta: string) => `data: {"type":"content","delta":"${delta}"}\n\n`;

  it('is the gateway’s, once and first, whether the upstream sent none or several', async () => {
    for (const raw of [
      [content('a'), content('b'), DONE],
      [START, content('a'), START, content('b'), START, DONE],
      [content('a'), START, content('b'), DONE],
    ]) {
      const { run } = await upstreamSends(raw);
      const res = await run();
      const runId = res.headers.get('x-run-id');
      const events = await endOf(res);
      expect(events).toEqual([
        { type: 'start', run_id: runId },
        { type: 'content', delta: 'a' },
        { type: 'content', delta: 'b' },
        { type: 'done' },
      ]);
    }
  });
});
