/**
 * The SDK's `resume: true` against a run in flight (contract 4b: `GET /v1/chat/{id}/stream`
 * replays the chat's running run from its start). These need runs that outlive their
 * request (durable runs, contract section 4): until `activeRunEvents` in
 * src/services/chat.ts is wired to the run's event log they FAIL, on purpose: the resume
 * route answers 204 for every chat, and `reconnectToStream` returns null.
 */
import { describe, expect, it } from 'vitest';
import { assemble, chatFrontend, chatId, expectSdkFrames, textOf, userMessage } from '../helpers/chat';
import { testGateway } from '../helpers/gateway';

const REPLY = 'one two three four five six seven eight';

/** A user whose chat has a slow run in flight: its first chunk read, the rest still coming. */
async function runInFlight() {
  const gw = testGateway();
  await gw.emulator.configure({ reply: REPLY, stream: { pace_ms: 100 } });
  const sdk = chatFrontend(gw.fetch, await gw.caller('acme'));
  const id = chatId();
  const live = (await sdk.send(id, [userMessage('x')])).getReader();
  expect((await live.read()).value).toMatchObject({ type: 'start' });
  return { gw, sdk, id, live };
}

describe('GET /v1/chat/{chat_id}/stream while a run is in flight', () => {
  it('reconnectToStream returns the full message, from its start, next to the first connection', async () => {
    const { sdk, id, live } = await runInFlight();
    const resumed = await sdk.reconnect(id);
    expect(resumed).not.toBeNull();
    if (!resumed) return;
    const message = await assemble(resumed);
    expect(textOf(message)).toBe(REPLY);
    expect(message.parts.filter((part) => part.type === 'dynamic-tool')).toHaveLength(1);
    const replay = sdk.exchanges.at(-1);
    if (!replay) throw new Error('no exchange');
    expect((await expectSdkFrames(replay))[0]).toMatchObject({
      type: 'start',
      messageId: expect.any(String),
    });
    // The first connection still reads the same run to its end.
    for (let read = await live.read(); !read.done; read = await live.read()) {
      if (read.value.type === 'finish') break;
    }
  });

  it('reconnectToStream returns the full message after the first connection left (a page reload)', async () => {
    const { sdk, id, live } = await runInFlight();
    await live.cancel();
    const resumed = await sdk.reconnect(id);
    expect(resumed).not.toBeNull();
    if (!resumed) return;
    expect(textOf(await assemble(resumed))).toBe(REPLY);
  });
});
