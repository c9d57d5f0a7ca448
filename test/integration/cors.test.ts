import { describe, expect, it } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { expectError, watchUpstream } from '../helpers/assertions';
import { newThread } from '../helpers/fixtures';
import { type Caller, testGateway } from '../helpers/gateway';

const ACME_ORIGIN = TENANTS.acme.origins[0];
const GLOBEX_ORIGIN = TENANTS.globex.origins[0];
const EVIL_ORIGIN = 'https://evil.example';

describe('CORS', () => {
  const gw = testGateway();

  const preflight = (origin: string, path = '/v1/threads', method = 'POST') =>
    gw.fetch(path, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  it("answers a preflight from a tenant's origin", async () => {
    const watch = await watchUpstream(gw.emulator);
    for (const origin of [ACME_ORIGIN, GLOBEX_ORIGIN]) {
      const res = await preflight(origin);
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-methods')).toMatch(/POST/);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/authorization/);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('vary')).toMatch(/Origin/i);
      expect(res.headers.get('x-request-id')).toBeTruthy();
    }
    await watch.expectNone();
  });

  it('lets a browser send a run’s retry headers and read the run’s name', async () => {
    const res = await gw.fetch('/v1/threads/thr_x/run', {
      method: 'OPTIONS',
      headers: {
        origin: ACME_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key, last-event-id',
      },
    });
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const header of ['authorization', 'content-type', 'idempotency-key', 'last-event-id']) {
      expect(allowed).toContain(header);
    }
    const alice = await gw.caller('acme');
    const thread = await newThread(alice);
    const run = await alice.request('POST', `/v1/threads/${thread}/run`, {
      json: { message: 'hi', stream: false },
      headers: { origin: ACME_ORIGIN, 'idempotency-key': 'cors-1' },
    });
    expect(run.status).toBe(200);
    const exposed = (run.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['x-run-id', 'location']));
    expect(run.headers.get('x-run-id')).toMatch(/^run_/);
  });

  it('gives a preflight from any other origin no Access-Control-Allow-Origin', async () => {
    const watch = await watchUpstream(gw.emulator);
    for (const origin of [
      EVIL_ORIGIN,
      'null',
      'https://app.acme.example.evil.example',
      'http://app.acme.example',
      'https://app.acme.example:8443',
      `${ACME_ORIGIN}/`,
    ]) {
      const res = await preflight(origin);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
    }
    await watch.expectNone();
  });

  /** `GET /v1/threads` as `caller`, from `origin`. */
  const listFrom = (caller: Caller, origin: string) =>
    caller.edge.v1.threads.$get({ query: {} }, { headers: { origin } });

  it("lets the caller's own tenant's origin read an authenticated response", async () => {
    const alice = await gw.caller('acme');
    const own = await listFrom(alice, ACME_ORIGIN);
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe(ACME_ORIGIN);
    expect(own.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/i);
    expect(own.headers.get('vary')).toMatch(/Origin/i);
    const globex = await gw.caller('globex');
    const theirs = await listFrom(globex, GLOBEX_ORIGIN);
    expect(theirs.headers.get('access-control-allow-origin')).toBe(GLOBEX_ORIGIN);
  });

  it("does not let another tenant's origin read it", async () => {
    const alice = await gw.caller('acme');
    const other = await listFrom(alice, GLOBEX_ORIGIN);
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const globex = await gw.caller('globex');
    const acmeFromGlobex = await listFrom(globex, ACME_ORIGIN);
    expect(acmeFromGlobex.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('does not let an unknown origin read it', async () => {
    const alice = await gw.caller('acme');
    const evil = await listFrom(alice, EVIL_ORIGIN);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("applies the tenant's origins to error responses too", async () => {
    const alice = await gw.caller('acme');
    const own = await alice.request('GET', '/v1/threads/thread_404', { headers: { origin: ACME_ORIGIN } });
    expect(own.headers.get('access-control-allow-origin')).toBe(ACME_ORIGIN);
    await expectError(own, 404, 'NOT_FOUND');
    const other = await alice.request('GET', '/v1/threads/thread_404', {
      headers: { origin: GLOBEX_ORIGIN },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    await expectError(other, 404, 'NOT_FOUND');
  });

  it('never lets an unknown origin read a 401', async () => {
    const watch = await watchUpstream(gw.emulator);
    const evil = await gw.fetch('/v1/threads', { headers: { origin: EVIL_ORIGIN } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    await expectError(evil, 401, 'UNAUTHORIZED');
    await watch.expectNone();
  });

  it("lets a tenant's frontend read its own 401 (to know it must sign in again)", async () => {
    const watch = await watchUpstream(gw.emulator);
    const acme = await gw.fetch('/v1/threads', { headers: { origin: ACME_ORIGIN } });
    expect(acme.headers.get('access-control-allow-origin')).toBe(ACME_ORIGIN);
    await expectError(acme, 401, 'UNAUTHORIZED');
    await watch.expectNone();
  });
});
