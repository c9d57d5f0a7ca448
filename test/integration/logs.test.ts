import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CANARY_EMAIL, CANARY_INSTRUCTIONS, CANARY_INTERNAL, CANARY_PASSWORD } from '../emulator/canaries';
import { TENANTS } from '../fixtures/tenants';
import { type Caller, testGateway } from '../helpers/gateway';
import { JsonObject, parseText } from '../helpers/json';

/** Every line the Worker logs while `body` runs, parsed (all of them must be JSON). */
async function captureLogs(body: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spies = (['log', 'warn', 'error'] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    }),
  );
  try {
    await body();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines.map((line) => parseText(line, JsonObject));
}

describe('access log', () => {
  const gw = testGateway();
  let alice: Caller;
  let lines: Record<string, unknown>[] = [];
  let requests: Record<string, unknown>[] = [];

  beforeAll(async () => {
    alice = await gw.caller('acme');
    const thread = alice.edge.v1.threads[':thread_id'];
    lines = await captureLogs(async () => {
      const created = await alice.edge.v1.threads.$post(
        { json: { name: 'log me' } },
        { headers: { 'x-request-id': 'req-log-test-1' } },
      );
      const { thread_id } = await created.json();
      await thread.$get({ param: { thread_id } }, { headers: { 'x-request-id': 'req-log-test-2' } });
      await thread.$get(
        { param: { thread_id: 'someone-elses' } },
        { headers: { 'x-request-id': 'req-log-test-3' } },
      );
      await alice.request('GET', '/v1/usage', {
        auth: 'bad.token.value',
        headers: { 'x-request-id': 'req-log-test-4' },
      });
    });
    requests = lines.filter((line) => line.msg === 'request');
  });

  it('writes one line per request, with its request id', () => {
    expect(requests.map((line) => line.request_id)).toEqual([
      'req-log-test-1',
      'req-log-test-2',
      'req-log-test-3',
      'req-log-test-4',
    ]);
  });

  it('records the outcome of each request: route, status, upstream calls and the limiter', () => {
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
  });

  it('logs no secret: no credential, instruction, internal field or token', async () => {
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
