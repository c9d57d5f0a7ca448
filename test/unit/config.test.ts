import { describe, expect, it } from 'vitest';
import { clampMaxAge } from '../../src/auth/jwks';
import { parseConfig } from '../../src/config';
import { flushMs } from '../../src/objects/meter-book';
import { retryBaseSeconds } from '../../src/queue/backoff';
import { DEFAULT_LIMITS, hs256Keys, webhookSecrets } from '../../src/tenant';

const base = {
  EPSIMO_EMAIL: 'ops@example.com',
  EPSIMO_PASSWORD: 'pw',
  TENANTS: JSON.stringify({
    acme: { project_id: 'proj_1', session_secret: 'x'.repeat(32), assistants: ['asst_1'] },
  }),
};

describe('configuration', () => {
  it('fills every documented default', () => {
    const result = parseConfig(base);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.upstream).toEqual({
      baseUrl: 'https://api.epsimoagents.com',
      email: 'ops@example.com',
      password: 'pw',
      timeoutMs: 10_000,
    });
    expect(result.config.stream).toEqual({
      firstByteTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
      maxDurationMs: 300_000,
      pingMs: 15_000,
    });
    expect(result.config.tenants.get('acme')).toMatchObject({
      id: 'acme',
      origins: [],
      limits: DEFAULT_LIMITS,
      files: { max_bytes: 10 * 1024 * 1024 },
      tool_calls: 'name',
      callback_origins: [],
    });
  });

  it('refuses a bad METER_FLUSH_MS or WEBHOOK_RETRY_BASE_SECONDS instead of falling back', () => {
    for (const [name, value] of [
      ['METER_FLUSH_MS', 'soon'],
      ['METER_FLUSH_MS', '20000'],
      ['WEBHOOK_RETRY_BASE_SECONDS', '-1'],
      ['WEBHOOK_RETRY_BASE_SECONDS', '1.5'],
    ] as const) {
      const result = parseConfig({ ...base, [name]: value });
      expect(result.ok, `${name}=${value}`).toBe(false);
      if (!result.ok) expect(result.problems.join('\n')).toMatch(new RegExp(`^${name}`));
    }
    expect(parseConfig({ ...base, METER_FLUSH_MS: '0', WEBHOOK_RETRY_BASE_SECONDS: '' }).ok).toBe(true);
    // The objects read them by the same schemas: what the config accepts is what they use.
    expect([flushMs('0'), flushMs(undefined), retryBaseSeconds('30'), retryBaseSeconds('')]).toEqual([
      0, 500, 30, 10,
    ]);
  });

  it('names the problem without echoing secret values', () => {
    const result = parseConfig({
      ...base,
      TENANTS: JSON.stringify({ 'Bad Id': { project_id: 'p', session_secret: 'hunter2', assistants: [] } }),
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.join('\n')).toMatch(/TENANTS/);
    expect(result.problems.join('\n')).not.toContain('hunter2');
  });

  it('refuses a webhook secret that is not whsec_ and base64', () => {
    const tenants = (secret: string) =>
      JSON.stringify({
        acme: { project_id: 'p', session_secret: 'x'.repeat(32), assistants: ['a'], webhook_secret: secret },
      });
    expect(parseConfig({ ...base, TENANTS: tenants('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') }).ok).toBe(
      true,
    );
    expect(parseConfig({ ...base, TENANTS: tenants('whsec_abc=defghijklmnopqrstu') }).ok).toBe(false);
    expect(parseConfig({ ...base, TENANTS: tenants('secret') }).ok).toBe(false);
  });
});

describe('configuration: identity and secrets', () => {
  const tenant = (fields: Record<string, unknown>) => ({ project_id: 'p', assistants: ['a'], ...fields });
  const parse = (tenants: Record<string, unknown>, extra: Record<string, string> = {}) =>
    parseConfig({ ...base, ...extra, TENANTS: JSON.stringify(tenants) });
  const jwks = (fields: Record<string, unknown> = {}) => ({
    uri: 'https://idp.example/.well-known/jwks.json',
    issuer: 'https://idp.example',
    ...fields,
  });

  it('takes session_secret, auth.hs256 or auth.jwks, and needs one of them', () => {
    const secret = 'y'.repeat(32);
    expect(parse({ acme: tenant({ auth: { hs256: [{ kid: 'k1', secret }] } }) }).ok).toBe(true);
    expect(parse({ acme: tenant({ auth: { jwks: jwks() } }) }).ok).toBe(true);
    const none = parse({ acme: tenant({}) });
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.problems.join('\n')).toMatch(/session_secret, auth.hs256 or auth.jwks/);
    // Kids are unique, secrets long enough, and no secret is ever echoed.
    const dup = parse({
      acme: tenant({
        auth: {
          hs256: [
            { kid: 'k', secret },
            { kid: 'k', secret },
          ],
        },
      }),
    });
    expect(dup.ok).toBe(false);
    const short = parse({ acme: tenant({ auth: { hs256: [{ kid: 'k', secret: 'hunter2' }] } }) });
    expect(short.ok).toBe(false);
    if (!short.ok) expect(short.problems.join('\n')).not.toContain('hunter2');
  });

  it('lists a tenant’s HS256 keys and webhook secrets', () => {
    const result = parse({
      acme: tenant({
        session_secret: 'x'.repeat(32),
        auth: { hs256: [{ kid: 'k1', secret: 'y'.repeat(32) }] },
        webhook_secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        webhook_secrets: [
          'whsec_cm90YXRlZC1ob29rLXNlY3JldC0yMDI3IQ==',
          'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        ],
      }),
    });
    if (!result.ok) throw new Error(result.problems.join('; '));
    const acme = result.config.tenants.get('acme');
    if (!acme) throw new Error('no acme');
    expect(hs256Keys(acme)).toEqual([
      { kid: undefined, secret: 'x'.repeat(32) },
      { kid: 'k1', secret: 'y'.repeat(32) },
    ]);
    expect(webhookSecrets(acme)).toEqual([
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'whsec_cm90YXRlZC1ob29rLXNlY3JldC0yMDI3IQ==',
    ]);
  });

  it('allows only asymmetric algorithms for JWKS tokens, RS256 by default', () => {
    const ok = parse({ acme: tenant({ auth: { jwks: jwks() } }) });
    if (!ok.ok) throw new Error(ok.problems.join('; '));
    expect(ok.config.tenants.get('acme')?.auth?.jwks?.algorithms).toEqual(['RS256']);
    for (const alg of ['HS256', 'none', 'ES512x']) {
      expect(parse({ acme: tenant({ auth: { jwks: jwks({ algorithms: [alg] }) } }) }).ok).toBe(false);
    }
    expect(
      parse({ acme: tenant({ auth: { jwks: jwks({ algorithms: ['ES256', 'EdDSA', 'PS256'] }) } }) }).ok,
    ).toBe(true);
  });

  it('refuses two tenants that one token could belong to', () => {
    const a = tenant({ auth: { jwks: jwks({ audience: 'one' }) } });
    expect(parse({ a, b: tenant({ auth: { jwks: jwks({ audience: 'two' }) } }) }).ok).toBe(true);
    const same = parse({ a, b: tenant({ auth: { jwks: jwks({ audience: 'one' }) } }) });
    expect(same.ok).toBe(false);
    if (!same.ok) expect(same.problems.join('\n')).toMatch(/TENANTS\.b\.auth\.jwks: same issuer as tenant a/);
    // One of them without an audience would take the other's tokens too.
    expect(parse({ a, b: tenant({ auth: { jwks: jwks() } }) }).ok).toBe(false);
    expect(parse({ a: tenant({ auth: { jwks: jwks() } }), b: tenant({ auth: { jwks: jwks() } }) }).ok).toBe(
      false,
    );
  });

  it('refuses an EPSIMO_BASE_URL with a query or fragment, naming it and not echoing the value', () => {
    const acme = { acme: tenant({ session_secret: 'x'.repeat(32) }) };
    for (const url of [
      'http://127.0.0.1:8812/api?x=1',
      'http://127.0.0.1:8812#frag',
      'https://api.epsimoagents.com/?token=s3cr3t',
      'https://api.epsimoagents.com?',
      'https://api.epsimoagents.com/#',
    ]) {
      const result = parse(acme, { EPSIMO_BASE_URL: url });
      expect(result.ok, url).toBe(false);
      if (!result.ok) {
        expect(result.problems, url).toEqual([
          expect.stringMatching(/^EPSIMO_BASE_URL: .*query or fragment/),
        ]);
        expect(result.problems.join('\n')).not.toContain('s3cr3t');
      }
    }
    // An origin, with or without a trailing slash or a path, is still an upstream.
    for (const url of [
      'http://127.0.0.1:8812',
      'http://127.0.0.1:8812/',
      'https://api.epsimoagents.com/v2/',
    ]) {
      expect(parse(acme, { EPSIMO_BASE_URL: url }).ok, url).toBe(true);
    }
  });

  it('refuses an EPSIMO_BASE_URL with a user name or password, naming it and not echoing either', () => {
    const acme = { acme: tenant({ session_secret: 'x'.repeat(32) }) };
    for (const url of [
      'https://ops-user:s3cr3t-pw@api.epsimoagents.com',
      'https://ops-user@api.epsimoagents.com',
      'https://:s3cr3t-pw@api.epsimoagents.com/v2',
      'http://ops-user:s3cr3t-pw@127.0.0.1:8812/api',
      'https://@api.epsimoagents.com',
      'https://ops-user:s3cr3t-pw@api.epsimoagents.com:443/',
    ]) {
      const result = parse(acme, { EPSIMO_BASE_URL: url });
      expect(result.ok, url).toBe(false);
      if (!result.ok) {
        expect(result.problems, url).toEqual([
          expect.stringMatching(/^EPSIMO_BASE_URL: .*user name or password/),
        ]);
        expect(result.problems.join('\n')).not.toMatch(/s3cr3t|ops-user/);
      }
    }
    // An `@` in the path is no userinfo: such an upstream is still accepted.
    for (const url of ['https://api.epsimoagents.com/v2/@team', 'http://127.0.0.1:8812/a@b/']) {
      expect(parse(acme, { EPSIMO_BASE_URL: url }).ok, url).toBe(true);
    }
  });

  it('refuses http: upstream and JWKS URLs outside local development', () => {
    const acme = { acme: tenant({ session_secret: 'x'.repeat(32) }) };
    const upstream = (url: string, extra: Record<string, string> = {}) =>
      parse(acme, { EPSIMO_BASE_URL: url, ...extra }).ok;
    expect(upstream('http://api.epsimoagents.com')).toBe(false);
    expect(upstream('http://10.0.0.5:8788')).toBe(false);
    expect(upstream('https://api.epsimoagents.com')).toBe(true);
    // Loopback is local by definition (and unreachable from a deployed Worker).
    for (const url of [
      'http://127.0.0.1:8788',
      'http://localhost:8788',
      'http://emu.localhost',
      'http://[::1]:8788',
    ]) {
      expect(upstream(url)).toBe(true);
    }
    // Another local host name needs the explicit switch.
    expect(upstream('http://emulator:8788', { LOCAL_DEV: 'true' })).toBe(true);
    expect(upstream('http://emulator:8788', { LOCAL_DEV: 'false' })).toBe(false);
    expect(upstream('https://api.epsimoagents.com', { LOCAL_DEV: 'yes' })).toBe(false);

    const idp = (uri: string, extra: Record<string, string> = {}) =>
      parse({ acme: tenant({ auth: { jwks: jwks({ uri }) } }) }, extra);
    const refused = idp('http://idp.example/jwks.json');
    expect(refused.ok).toBe(false);
    if (!refused.ok)
      expect(refused.problems).toEqual([expect.stringMatching(/^TENANTS\.acme\.auth\.jwks\.uri: http:/)]);
    expect(idp('http://127.0.0.1:8788/.well-known/jwks.json').ok).toBe(true);
    expect(idp('http://idp.example/jwks.json', { LOCAL_DEV: 'true' }).ok).toBe(true);
    expect(idp('https://user:pw@idp.example/jwks.json').ok).toBe(false);
  });
});

describe('JWKS freshness', () => {
  it('honours max-age within 60 s to 1 h, 10 min when absent', () => {
    expect(clampMaxAge(null)).toBe(600);
    expect(clampMaxAge('public, max-age=300')).toBe(300);
    expect(clampMaxAge('max-age=0')).toBe(60);
    expect(clampMaxAge('public, max-age=21600, must-revalidate')).toBe(3600);
    expect(clampMaxAge('s-maxage=120')).toBe(120);
    expect(clampMaxAge('no-store')).toBe(60);
    expect(clampMaxAge('private')).toBe(600);
  });
});
