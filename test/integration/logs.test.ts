import { afterEach, describe, expect, it, vi } from 'vitest';
import { CANARY_EMAIL, CANARY_INSTRUCTIONS, CANARY_INTERNAL, CANARY_PASSWORD } from '../emulator/canaries';
import { TENANTS } from '../fixtures/tenants';
import { testGateway } from '../helpers/gateway';

/** Every line the Worker logs while `body` runs, parsed (all of them must be JSON). */
async function captureLogs(body: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  for (const level of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
  }
  await body();
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('access log', () => {
  it('writes one structured line per request, with its outcome and no secrets', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    let threadId = '';
    const lines = await captureLogs(async () => {
      const created = await alice.request('POST', '/v1/threads', {
        json: { name: 'log me' },
        headers: { 'x-request-id': 'req-log-test-1' },
      });
      threadId = ((await created.json()) as { thread_id: string }).thread_id;
      await alice.request('GET', `/v1/threads/${threadId}`, {
        headers: { 'x-request-id': 'req-log-test-2' },
      });
      await alice.request('GET', '/v1/threads/someone-elses', {
        headers: { 'x-request-id': 'req-log-test-3' },
      });
      await alice.request('GET', '/v1/usage', {
        auth: 'bad.token.value',
        headers: { 'x-request-id': 'req-log-test-4' },
      });
    });
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.map((line) => line.request_id)).toEqual([
      'req-log-test-1',
      'req-log-test-2',
      'req-log-test-3',
      'req-log-test-4',
    ]);
    expect(requests[0]).toMatchObject({
      level: 'info',
      tenant: alice.tenant,
      method: 'POST',
      route: '/v1/threads',
      status: 201,
      // The account's thread allowance (read once per isolate, first creation) and the create.
      upstream_calls: 2,
      limiter: 'admitted',
      duration_ms: expect.any(Number),
    });
    expect(requests[1]).toMatchObject({ route: '/v1/threads/:thread_id', status: 200, upstream_calls: 1 });
    expect(requests[2]).toMatchObject({ status: 404, upstream_calls: 0, limiter: 'not_found' });
    expect(requests[3]).toMatchObject({ status: 401, tenant: null, upstream_calls: 0, limiter: 'none' });

    const text = JSON.stringify(lines);
    const tokens = (await gw.emulator.stats()).tokens_issued;
    for (const secret of [
      CANARY_EMAIL,
      CANARY_PASSWORD,
      CANARY_INSTRUCTIONS,
      CANARY_INTERNAL,
      TENANTS.acme.session_secret,
      alice.token,
      'bad.token.value',
      ...tokens,
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
