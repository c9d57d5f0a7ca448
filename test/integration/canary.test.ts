/**
 * One full session across every safe route and a range of error paths, recording every
 * response (status, headers, body) and every console line. Then: none of it carries the
 * upstream's account credentials, assistant instructions, internal fields, an upstream token
 * or any JWT at all; and no log line carries a token, the password or the email.
 */
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { z } from 'zod';
import {
  CANARY_EMAIL,
  CANARY_INSTRUCTIONS,
  CANARY_INTERNAL,
  CANARY_PASSWORD,
  CANARY_TOOL_ARG,
} from '../emulator/canaries';
import type { StatusOverride } from '../emulator/types';
import { expectError, JWT_PATTERN } from '../helpers/assertions';
import { textFile } from '../helpers/fixtures';
import { type Caller, type RequestOptions, testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';

interface Recorded {
  label: string;
  status: number;
  text: string;
}

const SECRETS = [CANARY_EMAIL, CANARY_PASSWORD, CANARY_INSTRUCTIONS, CANARY_INTERNAL, CANARY_TOOL_ARG];

describe('canaries', () => {
  const gw = testGateway();
  const recorded: Recorded[] = [];
  const logLines: string[] = [];
  const spies: MockInstance[] = [];
  let sessionTokens: string[] = [];

  /** Keeps a copy of everything the caller could see of a response (typed or not). */
  async function keep<R extends { status: number; headers: Headers; clone(): { text(): Promise<string> } }>(
    caller: Caller,
    what: string,
    pending: Promise<R>,
  ): Promise<R> {
    const res = await pending;
    const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    recorded.push({
      label: `${caller.tenant}/${caller.user} ${what}`,
      status: res.status,
      text: `${headers}\n\n${await res.clone().text()}`,
    });
    return res;
  }

  /** Calls the Worker with a hand-built request and keeps a copy of the answer. */
  const call = (caller: Caller, method: string, path: string, options: RequestOptions = {}) =>
    keep(caller, `${method} ${path}`, caller.request(method, path, options));

  const override = (o: StatusOverride) => gw.emulator.configure({ status_overrides: [o] });

  beforeAll(async () => {
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      spies.push(
        vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
          logLines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
        }),
      );
    }

    const alice = await gw.caller('acme', 'alice');
    const bob = await gw.caller('acme', 'bob');
    const mallory = await gw.caller('globex', 'mallory');
    sessionTokens = [alice.token, bob.token, mallory.token];

    // Every safe route, the happy path.
    await call(alice, 'GET', '/v1/assistants');
    await call(mallory, 'GET', '/v1/assistants');
    const created = await keep(
      alice,
      'POST /v1/threads',
      alice.edge.v1.threads.$post({ json: { name: 'one' } }),
    );
    const t1 = await created.json();
    await call(alice, 'POST', '/v1/threads', { json: { assistant_id: 'asst_sales', metadata: { a: 1 } } });
    await call(alice, 'GET', '/v1/threads');
    for (const content of ['first', 'second', 'third']) {
      await call(alice, 'POST', `/v1/threads/${t1.thread_id}/messages`, { json: { content } });
    }
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}`);
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}/messages?limit=2`);
    await call(alice, 'PUT', `/v1/threads/${t1.thread_id}/db/prefs`, { json: { value: { theme: 'dark' } } });
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}/db`);
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}/db/prefs`);
    const upload = alice.edge.v1.files.$post({ form: { file: textFile('hello', 'hello.txt') } });
    const file = await (await keep(alice, 'POST /v1/files', upload)).json();
    await call(alice, 'GET', '/v1/files');
    await call(alice, 'GET', '/v1/usage');

    // Error paths, at the edge.
    await call(alice, 'POST', '/v1/threads', { json: { nope: 1 } });
    await call(alice, 'POST', '/v1/threads', {
      body: '{oops',
      headers: { 'content-type': 'application/json' },
    });
    await call(alice, 'GET', '/v1/threads/..%2f');
    await call(alice, 'GET', '/v1/threads/x', { auth: false });
    await call(alice, 'GET', '/v1/threads', { auth: `${alice.token.slice(0, -2)}xx` });
    await call(alice, 'GET', '/v1/threads/thread_missing');
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}/db/absent`);
    await call(alice, 'PUT', `/v1/threads/${t1.thread_id}/db/big`, { json: { value: 'x'.repeat(70_000) } });
    await call(bob, 'GET', `/v1/threads/${t1.thread_id}`);
    await call(mallory, 'DELETE', `/v1/files/${file.file_id}`);
    for (let i = 0; i < 4; i += 1) await call(alice, 'POST', '/v1/threads', { json: {} });

    // Error paths, from an upstream that leaks: its bodies carry every canary and a token.
    const issued = (await gw.emulator.stats()).tokens_issued;
    // (The password only ever goes to /auth/login, so an upstream can echo it only in a
    // field of a request body; free text cannot be told apart from any other string.)
    const leaky = {
      error: CANARY_INTERNAL,
      detail: `${CANARY_EMAIL} ${CANARY_INSTRUCTIONS} Bearer ${issued[0]}`,
      input: { email: CANARY_EMAIL, password: CANARY_PASSWORD },
      access_token: issued[0],
      _internal: CANARY_INTERNAL,
    };
    const path = `/threads/${t1.thread_id}`;
    await override({ method: 'GET', path, status: 500, body: leaky });
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}`);
    await override({ method: 'GET', path, status: 503, body: leaky, headers: { 'Retry-After': '3' } });
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}`);
    await override({ method: 'GET', path, status: 200, body: { thread_id: t1.thread_id, ...leaky } });
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}`);
    await override({ method: 'GET', path, status: 200, body: `not json ${issued[0]} ${CANARY_EMAIL}` });
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}`);
    await override({
      method: 'POST',
      path: `${path}/messages`,
      status: 422,
      body: { ...leaky, field: 'role' },
    });
    await call(alice, 'POST', `/v1/threads/${t1.thread_id}/messages`, { json: { content: 'x' } });
    await override({ method: 'DELETE', path: '/files/*', status: 403, body: leaky });
    await call(alice, 'DELETE', `/v1/files/${file.file_id}`);
    await gw.emulator.configure({ status_overrides: [] });
    await gw.emulator.revokeTokens();
    await call(alice, 'GET', `/v1/threads/${t1.thread_id}/messages`);
    await call(alice, 'DELETE', `/v1/files/${file.file_id}`);
    await call(alice, 'DELETE', `/v1/threads/${t1.thread_id}`);
    // Last (the broker then backs off logins for a while): the upstream refuses the account.
    await gw.emulator.configure({ reject_logins: true });
    await gw.emulator.revokeTokens();
    await call(alice, 'GET', '/v1/assistants');
  });

  afterAll(() => {
    for (const spy of spies) spy.mockRestore();
  });

  it('drove the session it meant to (successes and every kind of failure)', async () => {
    const statuses = new Set(recorded.map((r) => r.status));
    for (const status of [200, 201, 204, 400, 401, 404, 413, 429, 502, 503])
      expect(statuses).toContain(status);
    expect(recorded.length).toBeGreaterThanOrEqual(40);
    // The leaky upstream bodies were really served.
    expect(logLines.some((line) => line.includes('upstream failure'))).toBe(true);
  });

  it('no response carries a canary, an upstream token or a JWT', async () => {
    const issued = (await gw.emulator.stats()).tokens_issued;
    expect(issued.length).toBeGreaterThan(0);
    for (const { label, text } of recorded) {
      for (const secret of [...SECRETS, '_internal', ...issued, ...sessionTokens]) {
        expect(text.includes(secret), `${label} leaks ${secret.slice(0, 20)}`).toBe(false);
      }
      expect(text, label).not.toContain('eyJ');
      expect(text, label).not.toMatch(/instructions|Traceback|stack/i);
    }
  });

  it('every response has a request id and no-store; every error has the contract body', async () => {
    for (const { label, status, text } of recorded) {
      expect(text, label).toMatch(/^x-request-id: \S+$/m);
      expect(text, label).toMatch(/^cache-control: no-store$/m);
      if (status >= 400) {
        const res = new Response(text.slice(text.indexOf('\n\n') + 2), {
          status,
          headers: Object.fromEntries(
            text
              .slice(0, text.indexOf('\n\n'))
              .split('\n')
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
          ),
        });
        const body = await parseJson(
          res.clone(),
          z.object({ code: z.string(), field: z.string().optional() }),
        );
        await expectError(res, status, body.code, body.field);
      }
    }
  });

  it('no log line carries a token, the password or the email', async () => {
    const issued = (await gw.emulator.stats()).tokens_issued;
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      for (const secret of [CANARY_EMAIL, CANARY_PASSWORD, ...issued, ...sessionTokens]) {
        expect(line.includes(secret), `log leaks ${secret.slice(0, 20)}: ${line.slice(0, 120)}`).toBe(false);
      }
      expect(line).not.toMatch(JWT_PATTERN);
      expect(line).not.toMatch(/Bearer\s+(?!\[redacted\])\S/);
    }
  });
});
