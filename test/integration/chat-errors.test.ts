import { APICallError } from 'ai';
import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { ErrorBodySchema, expectError, watchUpstream } from '../helpers/assertions';
import {
  assemble,
  chatFrontend,
  chatId,
  expectSdkFrames,
  chatSetup as setup,
  textOf,
  threadsOf,
  userMessage,
} from '../helpers/chat';
import { spending, usage } from '../helpers/fixtures';
import { parseText } from '../helpers/json';

describe('POST /v1/chat: errors', () => {
  it("ends a run that fails mid-stream with the SDK's error, the contract's code in errorText", async () => {
    const { gw, sdk } = await setup();
    await gw.emulator.configure({ stream: { fail_after_events: 2 } });
    const stream = await sdk.send(chatId(), [userMessage('hello there')]);
    await expect(assemble(stream, { terminateOnError: true })).rejects.toThrow(
      /^UPSTREAM_FAILED: The upstream stopped before the run finished\.$/,
    );
    const [exchange] = sdk.exchanges;
    if (!exchange) throw new Error('no exchange');
    const chunks = await expectSdkFrames(exchange);
    expect(chunks.at(-1)).toEqual({
      type: 'error',
      errorText: 'UPSTREAM_FAILED: The upstream stopped before the run finished.',
    });
    expect(chunks.map((c) => c.type)).not.toContain('finish');
    expect(exchange.data.join('\n')).not.toMatch(/injected|emulator/);
  });

  it('refuses "trigger": "regenerate-message" with 400, creating nothing and calling nothing upstream', async () => {
    const { gw, user } = await setup();
    const upstream = await watchUpstream(gw.emulator);
    const res = await user.request('POST', '/v1/chat', {
      json: {
        id: chatId(),
        messages: [userMessage('again')],
        trigger: 'regenerate-message',
        messageId: 'm1',
      },
    });
    await expectError(res, 400, 'VALIDATION_ERROR', 'trigger');
    await upstream.expectNone();
    expect(await threadsOf(user)).toEqual([]);
  });

  it('refuses a chat id that is not an id with 400 and no upstream call', async () => {
    const { gw, user } = await setup();
    const upstream = await watchUpstream(gw.emulator);
    const res = await user.request('POST', '/v1/chat', {
      json: { id: 'not/an id', messages: [userMessage('x')], trigger: 'submit-message' },
    });
    await expectError(res, 400, 'VALIDATION_ERROR', 'id');
    await upstream.expectNone();
  });

  it('refuses a body over 1 MiB with 413, creating nothing and calling nothing upstream', async () => {
    const { gw, user } = await setup();
    const upstream = await watchUpstream(gw.emulator);
    const history = Array.from({ length: 40 }, (_, i) => userMessage('x'.repeat(30_000), `m${i}`));
    const res = await user.request('POST', '/v1/chat', {
      json: { id: chatId(), messages: [...history, userMessage('last')], trigger: 'submit-message' },
    });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    await upstream.expectNone();
    expect(await threadsOf(user)).toEqual([]);
  });

  it('accepts a long history under 1 MiB (the JSON routes’ 256 KiB cap does not apply)', async () => {
    const { sdk } = await setup();
    const history = Array.from({ length: 20 }, (_, i) => userMessage('x'.repeat(30_000), `m${i}`));
    const stream = await sdk.send(chatId(), [...history, userMessage('last')]);
    expect(textOf(await assemble(stream))).toBe('Echo: last');
  });

  it("refuses a last message that is not the user's with 400 and no upstream call", async () => {
    const { gw, user } = await setup();
    const upstream = await watchUpstream(gw.emulator);
    const assistant = { id: 'a1', role: 'assistant', parts: [{ type: 'text', text: 'hi' }] };
    const res = await user.request('POST', '/v1/chat', {
      json: { id: chatId(), messages: [userMessage('x'), assistant], trigger: 'submit-message' },
    });
    await expectError(res, 400, 'VALIDATION_ERROR', 'messages.1');
    await upstream.expectNone();
  });

  it('refuses a second first message while the chat’s thread is being created with 409 RUN_IN_PROGRESS', async () => {
    const { gw, user, sdk } = await setup();
    await gw.emulator.configure({ latency_ms: 400 });
    const id = chatId();
    const before = await gw.emulator.requestCount('POST /threads/');
    const first = sdk.send(id, [userMessage('first')]);
    // The first turn's reservation exists (it counts as one of the user's threads): its creation is under way.
    await expect.poll(async () => (await usage(user)).threads.yours, { timeout: 5000 }).toBe(1);
    const second = await user.request('POST', '/v1/chat', {
      json: { id, messages: [userMessage('second')], trigger: 'submit-message' },
    });
    await expectError(second, 409, 'RUN_IN_PROGRESS');
    expect(textOf(await assemble(await first))).toBe('Echo: first');
    expect(await gw.emulator.requestCount('POST /threads/')).toBe(before + 1);
    expect(await threadsOf(user)).toHaveLength(1);
  });

  it("surfaces a refused request as the SDK's APICallError carrying the contract body", async () => {
    const tenants = { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_per_user: 1 } } };
    const { sdk } = await setup('acme', { tenants });
    await assemble(await sdk.send(chatId(), [userMessage('one')]));
    const refused = await sdk.send(chatId(), [userMessage('two')]).catch((error: unknown) => error);
    expect(APICallError.isInstance(refused)).toBe(true);
    if (!APICallError.isInstance(refused)) return;
    expect(refused.statusCode).toBe(429);
    expect(parseText(refused.responseBody ?? '', ErrorBodySchema).code).toBe('QUOTA_EXCEEDED');
  });

  it('counts a new chat against the thread quota, creating no thread upstream when over it', async () => {
    const tenants = { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_per_user: 1 } } };
    const { gw, user } = await setup('acme', { tenants });
    await assemble(await chatFrontend(gw.fetch, user).send(chatId(), [userMessage('one')]));
    const upstream = await watchUpstream(gw.emulator);
    const res = await user.request('POST', '/v1/chat', {
      json: { id: chatId(), messages: [userMessage('two')], trigger: 'submit-message' },
    });
    await expectError(res, 429, 'QUOTA_EXCEEDED');
    await upstream.expectNone();
  });

  it('reuses an existing chat at the thread quota', async () => {
    const tenants = { acme: { ...TENANTS.acme, limits: { ...TENANTS.acme.limits, threads_per_user: 1 } } };
    const { sdk } = await setup('acme', { tenants });
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('one')]));
    expect(textOf(await assemble(await sdk.send(id, [userMessage('two')])))).toBe('Echo: two');
  });

  it('counts every turn against the run budget', async () => {
    const limits = { ...TENANTS.acme.limits, runs_per_user_per_day: 1 };
    const { gw, user, sdk } = await setup('acme', { tenants: { acme: { ...TENANTS.acme, limits } } });
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('one')]));
    const upstream = await watchUpstream(gw.emulator);
    const res = await user.request('POST', '/v1/chat', {
      json: { id, messages: [userMessage('two')], trigger: 'submit-message' },
    });
    await expectError(res, 429, 'BUDGET_EXCEEDED');
    await upstream.expectNone();
  });

  it('counts a new chat against the thread-creation budget, and not a reused one', async () => {
    const limits = { ...TENANTS.acme.limits, threads_per_user_per_day: 1 };
    const { gw, user, sdk } = await setup('acme', { tenants: { acme: { ...TENANTS.acme, limits } } });
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('one')]));
    const upstream = await watchUpstream(gw.emulator);
    const res = await user.request('POST', '/v1/chat', {
      json: { id: chatId(), messages: [userMessage('two')], trigger: 'submit-message' },
    });
    await expectError(res, 429, 'BUDGET_EXCEEDED');
    await upstream.expectNone();
    expect(textOf(await assemble(await sdk.send(id, [userMessage('three')])))).toBe('Echo: three');
  });
});

describe('POST /v1/chat: a new chat whose first run the upstream refuses', () => {
  it('gives the run unit and the slot back; the thread it created keeps its unit', async () => {
    const limits = { ...TENANTS.acme.limits, runs_per_user_per_day: 1 };
    const { gw, user } = await setup('acme', { tenants: { acme: { ...TENANTS.acme, limits } } });
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/*/run', status: 404, times: 1 }],
    });
    const res = await user.request('POST', '/v1/chat', {
      json: { id: chatId(), messages: [userMessage('hi')], trigger: 'submit-message' },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    await res.body?.cancel();
    const after = await usage(user);
    expect(after.budgets.runs_per_user_per_day.used).toBe(0);
    expect(after.budgets.threads_per_user_per_day.used).toBe(1);
    expect(after.streams.yours).toBe(0);
    // The unit it got back runs the next turn.
    const sdk = chatFrontend(gw.fetch, user);
    expect(textOf(await assemble(await sdk.send(chatId(), [userMessage('again')])))).toBe('Echo: again');
  });
});

describe('POST /v1/chat: an assistant not the tenant’s', () => {
  it('is refused as input (400 assistant_id), not at a limit, with nothing reserved or spent', async () => {
    const limits = { ...TENANTS.acme.limits, threads_per_user_per_day: 1, streams_per_user: 1 };
    const { gw, user } = await setup('acme', { tenants: { acme: { ...TENANTS.acme, limits } } });
    const send = (assistant_id: string) =>
      user.request('POST', '/v1/chat', {
        json: { id: chatId(), messages: [userMessage('hi')], trigger: 'submit-message', assistant_id },
      });
    const upstream = await watchUpstream(gw.emulator);
    const before = await spending(user);
    await expectError(await send('asst_internal'), 400, 'VALIDATION_ERROR', 'assistant_id');
    await upstream.expectNone();
    expect(await spending(user)).toEqual(before);
    // At the day's last creation the same bad value is still a 400, not the budget's 429.
    const served = await send('asst_sales');
    expect(served.status).toBe(200);
    // Its run holds the one stream slot while this is refused for its assistant, not the slot.
    await expectError(await send('asst_internal'), 400, 'VALIDATION_ERROR', 'assistant_id');
    await served.body?.cancel();
  });
});

describe('GET /v1/chat/{chat_id}/stream', () => {
  it('is 204 for a chat that was never used, so reconnectToStream returns null', async () => {
    const { gw, sdk } = await setup();
    const upstream = await watchUpstream(gw.emulator);
    expect(await sdk.reconnect(chatId())).toBeNull();
    expect(sdk.exchanges.map((e) => [e.method, new URL(e.url).pathname, e.status])).toEqual([
      ['GET', expect.stringMatching(/^\/v1\/chat\/chat_\w+\/stream$/), 204],
    ]);
    await upstream.expectNone();
  });

  it("is 204 once the chat's run has ended", async () => {
    const { sdk } = await setup();
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('hello')]));
    expect(await sdk.reconnect(id)).toBeNull();
  });

  it("is 204 for another user's chat", async () => {
    const { gw, sdk } = await setup();
    const id = chatId();
    await assemble(await sdk.send(id, [userMessage('mine')]));
    const other = chatFrontend(gw.fetch, await gw.caller('acme'));
    expect(await other.reconnect(id)).toBeNull();
  });

  it('refuses a chat id that is not an id with 400', async () => {
    const { user } = await setup();
    await expectError(
      await user.request('GET', '/v1/chat/bad%20id/stream'),
      400,
      'VALIDATION_ERROR',
      'chat_id',
    );
  });
});
