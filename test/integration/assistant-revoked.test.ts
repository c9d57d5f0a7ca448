import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError } from '../helpers/assertions';
import { userMessage } from '../helpers/chat';
import { newThread, spending } from '../helpers/fixtures';
import { callerOf, testGateway } from '../helpers/gateway';
import { callWorker } from '../helpers/worker';

/**
 * An assistant the operator takes off a tenant's allow-list stops being run: a new run on
 * a thread created with it is `400` naming `thread_id`, before any slot, unit or upstream
 * call, while its other threads go on. Threads are not deleted: they are still the user's.
 */
describe('an assistant taken off the allow-list', () => {
  async function setup() {
    const gw = testGateway({
      tenants: { t: { ...TENANTS.acme, assistants: ['asst_support', 'asst_sales'] } },
    });
    const alice = await gw.caller('t');
    const sales = await newThread(alice, { assistant_id: 'asst_sales' });
    const support = await newThread(alice, { assistant_id: 'asst_support' });
    // The same tenant, as the registry has it once the operator removed asst_sales.
    const tenant = gw.ids.t ?? '';
    const revoked = {
      ...gw.overrides,
      TENANTS: JSON.stringify({ [tenant]: { ...TENANTS.acme, assistants: ['asst_support'] } }),
    };
    const later = await callerOf(
      (path, init = {}) => callWorker(path, init, revoked),
      tenant,
      TENANTS.acme.session_secret,
      alice.user,
    );
    return { gw, alice, later, sales, support };
  }

  it('refuses a new run on its threads 400, spending nothing and calling no upstream', async () => {
    const { gw, later, sales, support } = await setup();
    const before = await spending(later);
    const runsBefore = (await gw.emulator.stats()).runs;
    for (const stream of [true, false]) {
      const res = await later.request('POST', `/v1/threads/${sales}/run`, {
        json: { message: 'hi', stream },
      });
      await expectError(res, 400, 'VALIDATION_ERROR', 'thread_id');
    }
    expect(await spending(later)).toEqual(before);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    // The thread is still the user's, and a thread of an offered assistant still runs.
    expect((await later.request('GET', `/v1/threads/${sales}`)).status).toBe(200);
    const ok = await later.request('POST', `/v1/threads/${support}/run`, {
      json: { message: 'hi', stream: false },
    });
    expect(ok.status).toBe(200);
  });

  it('refuses such a run 400 while the upstream gives no permit, not 503', async () => {
    const { gw, later, sales, support } = await setup();
    // An upstream 429 stops the account's governor for its Retry-After.
    await gw.emulator.configure({
      status_overrides: [
        { method: 'POST', path: '/threads/', status: 429, headers: { 'Retry-After': '30' } },
      ],
    });
    await expectError(await later.request('POST', '/v1/threads', { json: {} }), 503, 'UPSTREAM_RATE_LIMITED');
    // The tenant's pool's leased permits expire (3 s): the next permit is the governor's to give.
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const before = await spending(later);
    const runsBefore = (await gw.emulator.stats()).runs;
    const res = await later.request('POST', `/v1/threads/${sales}/run`, {
      json: { message: 'hi', stream: false },
    });
    await expectError(res, 400, 'VALIDATION_ERROR', 'thread_id');
    expect(await spending(later)).toEqual(before);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
    // The governor does refuse: a run it would admit is the 503.
    const offered = await later.request('POST', `/v1/threads/${support}/run`, {
      json: { message: 'hi', stream: false },
    });
    await expectError(offered, 503, 'UPSTREAM_RATE_LIMITED');
  });

  it('refuses a chat turn on a chat whose thread has it', async () => {
    const { gw, alice, later } = await setup();
    const turn = (caller: typeof alice, text: string, extra: object = {}) =>
      caller.request('POST', '/v1/chat', {
        json: { id: 'c-1', messages: [userMessage(text)], trigger: 'submit-message', ...extra },
      });
    // The chat's first turn creates its thread with the assistant it names.
    const first = await turn(alice, 'hello', { assistant_id: 'asst_sales' });
    expect(first.status).toBe(200);
    await first.text();
    const runsBefore = (await gw.emulator.stats()).runs;
    // Named by the field the chat's body has: its id (the body has no thread_id).
    const refused = await expectError(await turn(later, 'again'), 400, 'VALIDATION_ERROR', 'id');
    expect(refused.detail).toMatch(/^id: /);
    expect((await gw.emulator.stats()).runs).toBe(runsBefore);
  });
});

describe('the assistant a thread is gated on', () => {
  it('is the one the gateway asked for, not the upstream’s echo of it', async () => {
    const gw = testGateway({ tenants: { t: { ...TENANTS.acme, assistants: ['asst_support'] } } });
    const alice = await gw.caller('t');
    // An upstream that names the assistant otherwise in its answer (an alias, a canonical id).
    const echoed = { thread_id: 'thread_echo', name: 'x', assistant_id: 'asst_canonical_9' };
    await gw.emulator.configure({
      status_overrides: [{ method: 'POST', path: '/threads/', status: 200, body: echoed, times: 1 }],
    });
    const created = await alice.request('POST', '/v1/threads', { json: { assistant_id: 'asst_support' } });
    expect(created.status).toBe(201);
    // Answered as recorded, as the list shows it.
    expect(await created.json()).toMatchObject({ thread_id: 'thread_echo', assistant_id: 'asst_support' });
    const listed = await (await alice.request('GET', '/v1/threads')).json();
    expect(listed).toMatchObject({ threads: [{ thread_id: 'thread_echo', assistant_id: 'asst_support' }] });
    const run = await alice.request('POST', '/v1/threads/thread_echo/run', {
      json: { message: 'hi', stream: false },
    });
    // Admitted, and the run asked of the upstream (which has no such thread, so it is 404),
    // not refused as revoked.
    await expectError(run, 404, 'NOT_FOUND');
    expect((await gw.emulator.stats()).request_log.some((r) => r.path === '/threads/thread_echo/run')).toBe(
      true,
    );
  });
});
