import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createApp } from '../../src/app';
import { expectError, watchUpstream } from '../helpers/assertions';
import { type Caller, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import { deliveryCount, sendHook } from '../helpers/webhooks';

/** `n` nested arrays: `[[[...]]]`, n levels deep. */
const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

async function newThread(caller: Caller): Promise<string> {
  const res = await caller.request('POST', '/v1/threads', { json: {} });
  expect(res.status).toBe(201);
  return (await parseJson(res, z.object({ thread_id: z.string() }))).thread_id;
}

const send = (caller: Caller, method: string, path: string, body: string) =>
  caller.request(method, path, { body, headers: { 'content-type': 'application/json' } });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('JSON nesting depth (contract §5: deeper than 64 levels is 400)', () => {
  it('refuses a body nested deeper than 64 levels on every JSON route, before any upstream call', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const watch = await watchUpstream(gw.emulator);
    // About 10 KB: far under the body limit, deep enough to overflow a recursive validator.
    const deep = nested(5_000);
    const cases: [string, string, string][] = [
      ['PUT', `/v1/threads/${threadId}/db/k`, `{"value":${deep}}`],
      ['POST', '/v1/threads', `{"metadata":{"a":${deep}}}`],
      ['POST', `/v1/threads/${threadId}/messages`, `{"content":${deep}}`],
      ['POST', `/v1/threads/${threadId}/run`, `{"message":${deep}}`],
      // 65 levels with the body object: one over.
      ['PUT', `/v1/threads/${threadId}/db/k`, `{"value":${nested(64)}}`],
      ['PUT', `/v1/threads/${threadId}/db/k`, `{"value":${'{"a":'.repeat(64)}1${'}'.repeat(64)}}`],
    ];
    for (const [method, path, body] of cases) {
      const error = await expectError(await send(alice, method, path, body), 400, 'BAD_REQUEST');
      expect(error.detail).toBe('JSON bodies may nest at most 64 levels.');
    }
    await watch.expectNone();
    // Nothing was reserved or leased for the refused thread and run.
    const usage = await parseJson(
      await alice.request('GET', '/v1/usage'),
      z.object({ threads: z.object({ yours: z.number() }), streams: z.object({ active: z.number() }) }),
    );
    expect([usage.threads.yours, usage.streams.active]).toEqual([1, 0]);
  });

  it('accepts exactly 64 levels, and brackets inside strings do not count', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    const atLimit = await send(alice, 'PUT', `/v1/threads/${threadId}/db/k`, `{"value":${nested(63)}}`);
    expect(atLimit.status).toBe(200);
    const inString = `"${'[{'.repeat(2_000)}\\"]"`;
    const text = await send(alice, 'PUT', `/v1/threads/${threadId}/db/s`, `{"value":${inString}}`);
    expect(text.status).toBe(200);
    expect(await (await alice.request('GET', `/v1/threads/${threadId}/db/s`)).json()).toBe(
      `${'[{'.repeat(2_000)}"]`,
    );
  });

  it('refuses a signed webhook body nested too deep with 400, recording nothing', async () => {
    const gw = testGateway();
    const tenant = gw.ids.acme ?? '';
    const watch = await watchUpstream(gw.emulator);
    const res = await sendHook(tenant, `{"message":"x","subject":${nested(5_000)}}`, { fetch: gw.fetch });
    const error = await expectError(res, 400, 'BAD_REQUEST');
    expect(error.detail).toBe('JSON bodies may nest at most 64 levels.');
    expect(await deliveryCount(tenant)).toBe(0);
    await watch.expectNone();
  });

  it('answers a stray RangeError with a 4xx and the contract body, never a 500', async () => {
    const app = createApp();
    app.get('/range-error', () => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    const logged = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const res = await app.request('/range-error', {}, env);
    const error = await expectError(res, 400, 'BAD_REQUEST');
    expect(error.detail).not.toContain('Maximum call stack');
    const lines = logged.mock.calls.map(([line]) => String(line));
    expect(lines.some((line) => line.includes('"error":"RangeError"'))).toBe(true);
    expect(lines.join('\n')).not.toContain('Maximum call stack');
  });
});

describe('upstream JSON nested too deep to validate', () => {
  it('is 502 UPSTREAM_BAD_RESPONSE, logged as a bad body, never a 400 or 500', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const threadId = await newThread(alice);
    await gw.emulator.configure({
      status_overrides: [
        {
          method: 'GET',
          path: `/db/proj_acme/${threadId}/k`,
          status: 200,
          body: nested(5_000),
          headers: { 'content-type': 'application/json' },
        },
      ],
    });
    const logged = vi.spyOn(console, 'warn');
    await expectError(
      await alice.request('GET', `/v1/threads/${threadId}/db/k`),
      502,
      'UPSTREAM_BAD_RESPONSE',
    );
    const lines = logged.mock.calls.map(([line]) => String(line));
    expect(lines.some((line) => line.includes('"outcome":"bad_body"'))).toBe(true);
  });
});
