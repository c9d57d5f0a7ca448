import { afterEach, describe, expect, it, vi } from 'vitest';
import { TENANTS } from '../fixtures/tenants';
import { ErrorBodySchema } from '../helpers/assertions';
import { freshEmulator } from '../helpers/emulator';
import { sessionToken } from '../helpers/gateway';
import { parseJson, parseText } from '../helpers/json';
import { callWorker } from '../helpers/worker';

afterEach(() => {
  vi.restoreAllMocks();
});

const broken: [string, Record<string, string>][] = [
  ['TENANTS is not JSON', { TENANTS: 'not json {' }],
  [
    'a tenant has a short session secret',
    { TENANTS: JSON.stringify({ acme: { ...TENANTS.acme, session_secret: 'short' } }) },
  ],
  [
    'a tenant has an unknown field',
    { TENANTS: JSON.stringify({ acme: { ...TENANTS.acme, colour: 'red' } }) },
  ],
  ['the upstream URL is not a URL', { EPSIMO_BASE_URL: 'ftp:/nowhere' }],
  ['the account email is missing', { EPSIMO_EMAIL: '' }],
  ['a duration is not a number', { STREAM_PING_MS: 'soon' }],
];

/** Routes a broken configuration closes (everything but /healthz). */
const GUARDED = ['/v1/assistants', '/v1/threads', '/v1/usage', '/openapi.json'];

describe('the Worker spine', () => {
  it('answers /healthz with no auth, a request id and no upstream call', async () => {
    const emulator = freshEmulator();
    const res = await callWorker('/healthz', {}, { EPSIMO_BASE_URL: emulator.baseUrl });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await emulator.stats()).request_log).toEqual([]);
  });

  /** A Worker whose bindings are broken by `overrides`, with its own universe and console. */
  async function brokenWorker(overrides: Record<string, string>) {
    const emulator = freshEmulator();
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
    const env = { EPSIMO_BASE_URL: emulator.baseUrl, ...overrides };
    const token = await sessionToken(TENANTS.acme.session_secret, { tenant: 'acme', sub: 'alice' });
    const call = (path: string) => callWorker(path, { headers: { authorization: `Bearer ${token}` } }, env);
    return { emulator, lines, call };
  }

  it.each(broken)('answers 503 CONFIG_INVALID on every route but /healthz when %s', async (_, overrides) => {
    const { call } = await brokenWorker(overrides);
    for (const path of GUARDED) {
      const res = await call(path);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('60');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await parseJson(res, ErrorBodySchema);
      expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'error', 'request_id']);
      expect(body.code).toBe('CONFIG_INVALID');
      expect(JSON.stringify(body)).not.toMatch(/at |stack|TENANTS|session_secret|emulator/);
    }
  });

  it.each(broken)('still answers /healthz and calls no upstream when %s', async (_, overrides) => {
    const { emulator, call } = await brokenWorker(overrides);
    for (const path of GUARDED) await call(path);
    expect((await call('/healthz')).status).toBe(200);
    expect((await emulator.stats()).request_log).toEqual([]);
  });

  it.each(broken)('logs that the config is invalid, without the values, when %s', async (_, overrides) => {
    const { lines, call } = await brokenWorker(overrides);
    for (const path of GUARDED) await call(path);
    const logged = lines.join('\n');
    expect(logged).toMatch(/config invalid/);
    expect(logged).not.toContain(TENANTS.acme.session_secret);
    expect(logged).not.toContain('emulator-password');
  });

  // Probe B2: the upstream's paths are appended to EPSIMO_BASE_URL, so after a query or
  // fragment the account's login went to the wrong resource and every route was 503
  // UPSTREAM_UNAVAILABLE. Pointed at this test's own emulator, to see that nothing is sent.
  it.each(['/api?x=1', '#frag'])(
    'refuses an EPSIMO_BASE_URL ending in %s as CONFIG_INVALID, with no upstream call',
    async (suffix) => {
      const emulator = freshEmulator();
      const { lines, call } = await brokenWorker({ EPSIMO_BASE_URL: `${emulator.baseUrl}${suffix}` });
      for (const path of GUARDED) {
        const res = await call(path);
        expect(res.status, path).toBe(503);
        expect((await parseJson(res, ErrorBodySchema)).code).toBe('CONFIG_INVALID');
      }
      expect((await call('/healthz')).status).toBe(200);
      expect(lines.join('\n')).toMatch(/config invalid.*EPSIMO_BASE_URL: .*query or fragment/);
      expect((await emulator.stats()).request_log).toEqual([]);
      expect((await emulator.stats()).logins).toBe(0);
    },
  );

  // Probe: `https://user:pass@host` was taken as an upstream, so the login (and every call)
  // went out with credentials in its URL. Pointed at this test's own emulator, with them.
  it('refuses an EPSIMO_BASE_URL with a user name and password as CONFIG_INVALID, echoing neither', async () => {
    const emulator = freshEmulator();
    const url = emulator.baseUrl.replace('://', '://ops-user:s3cr3t-pw@');
    const { lines, call } = await brokenWorker({ EPSIMO_BASE_URL: url });
    for (const path of GUARDED) {
      const res = await call(path);
      expect(res.status, path).toBe(503);
      const text = await res.text();
      expect(parseText(text, ErrorBodySchema).code).toBe('CONFIG_INVALID');
      expect(text).not.toMatch(/s3cr3t|ops-user/);
    }
    expect((await call('/healthz')).status).toBe(200);
    const logged = lines.join('\n');
    expect(logged).toMatch(/config invalid.*EPSIMO_BASE_URL: .*user name or password/);
    expect(logged).not.toMatch(/s3cr3t|ops-user/);
    expect((await emulator.stats()).request_log).toEqual([]);
    expect((await emulator.stats()).logins).toBe(0);
  });

  it('answers unknown routes with the contract error body and a request id', async () => {
    const res = await callWorker('/v2/anything', { method: 'POST' });
    expect(res.status).toBe(404);
    const body = await parseJson(res, ErrorBodySchema);
    expect(body.code).toBe('NOT_FOUND');
    expect(res.headers.get('x-request-id')).toBe(body.request_id);
  });

  it('keeps a well-formed caller request id', async () => {
    const kept = await callWorker('/healthz', { headers: { 'x-request-id': 'trace-abc-123' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-abc-123');
  });

  it('replaces a malformed caller request id', async () => {
    const replaced = await callWorker('/healthz', { headers: { 'x-request-id': 'bad id\twith tab' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
