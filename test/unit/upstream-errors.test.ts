import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors';
import { redact, retryAfterFrom, translateStatus } from '../../src/upstream/errors';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfMSIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJlLXNlY3JldA';

describe('redact', () => {
  it('removes JWTs, bearer credentials, emails and token/password values', () => {
    const raw = JSON.stringify({
      error: 'Unauthorized',
      detail: `token ${JWT} for ops@edge-canary.example was rejected`,
      access_token: 'proj_token_abc',
      token: 'opaque-token-value',
      jwt_token: 'another-secret',
      password: 'hunter2',
    });
    const out = redact(`${raw} Authorization: Bearer sk_live_123`);
    expect(out).not.toContain(JWT);
    expect(out).not.toMatch(/eyJ/);
    expect(out).not.toContain('ops@edge-canary.example');
    expect(out).not.toContain('proj_token_abc');
    expect(out).not.toContain('opaque-token-value');
    expect(out).not.toContain('another-secret');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('sk_live_123');
    expect(out).toContain('Unauthorized');
    expect(out).toContain('"access_token":"[redacted]"');
  });

  it('redacts every key that names a credential, in JSON and in form encodings', () => {
    const secrets = [
      'rt-0001-refresh',
      'ak-0002-apikey',
      'sc-0003-secret',
      'pw-0004-form',
      'tk-0005-authz',
      'cs-0006-client',
      'ck-0007-cookie',
      'ar-0008-array',
      'ob-0009-nested',
      'sg-0010-sig',
      'hd-0011-header',
      'ss-0012-session',
    ];
    const json = JSON.stringify({
      error: 'Bad Request',
      refresh_token: secrets[0],
      api_key: secrets[1],
      secret: secrets[2],
      Authorization: `Token ${secrets[4]}`,
      client_secret: secrets[5],
      apiKeys: [secrets[7], 'second'],
      credentials: { user: 'ops', value: secrets[8] },
      webhook_signature: secrets[9],
      count: 3,
    });
    const form = `grant_type=password&username=ops&password=${secrets[3]}&scope=all`;
    const text = `Cookie: session=${secrets[6]}; Authorization: Token ${secrets[10]} sessionId=${secrets[11]}`;
    for (const raw of [json, form, text]) {
      const out = redact(raw, 10_000);
      for (const secret of secrets) expect(out).not.toContain(secret);
    }
    // What is not a credential stays readable.
    const out = redact(json, 10_000);
    expect(out).toContain('Bad Request');
    expect(out).toContain('"count":3');
    expect(redact(form, 10_000)).toContain('grant_type=password');
    expect(redact(form, 10_000)).toContain('scope=all');
    // A body cut mid-value (the log reads a prefix) is redacted too.
    expect(redact(`{"detail":"x","refresh_token":"${secrets[0]}`, 10_000)).not.toContain(secrets[0]);
    expect(redact(`{"api_keys":["${secrets[7]}","b`, 10_000)).not.toContain(secrets[7]);
  });

  it('cuts long bodies to about 300 characters, after redacting', () => {
    const out = redact(`${'x'.repeat(295)} ${JWT}`);
    expect(out.length).toBeLessThanOrEqual(301);
    expect(out).not.toMatch(/eyJ/);
  });

  it('removes control characters (no forged log lines)', () => {
    const out = redact('line1\n{"level":"error"}\r\u0000');
    for (const ch of ['\n', '\r', '\u0000']) expect(out.includes(ch)).toBe(false);
  });
});

describe('retryAfterFrom', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);

  it('reads delta seconds and HTTP dates', () => {
    expect(retryAfterFrom(new Headers({ 'Retry-After': '7' }), false, now)).toBe(7);
    const date = new Date(now + 30_000).toUTCString();
    expect(retryAfterFrom(new Headers({ 'Retry-After': date }), false, now)).toBe(30);
  });

  it('uses X-RateLimit-Reset only for rate limiting', () => {
    const headers = new Headers({ 'X-RateLimit-Reset': String(now / 1000 + 42) });
    expect(retryAfterFrom(headers, true, now)).toBe(42);
    expect(retryAfterFrom(headers, false, now)).toBeUndefined();
  });

  it('ignores garbage and clamps absurd values', () => {
    expect(retryAfterFrom(new Headers({ 'Retry-After': 'soon' }), true, now)).toBeUndefined();
    expect(retryAfterFrom(new Headers({ 'Retry-After': '999999999' }), false, now)).toBe(3600);
  });
});

describe('translateStatus', () => {
  const none = new Headers();
  const cases: [number, number, string][] = [
    // The caller's request passed the gateway's validation: the upstream refusing what the
    // gateway sent is not the caller's input error (contract section 5: 400 is the
    // caller's, with `field` naming it; 502 is an unusable upstream answer).
    [400, 502, 'UPSTREAM_BAD_RESPONSE'],
    [422, 502, 'UPSTREAM_BAD_RESPONSE'],
    [401, 503, 'UPSTREAM_UNAVAILABLE'],
    [403, 503, 'UPSTREAM_UNAVAILABLE'],
    [404, 404, 'NOT_FOUND'],
    [409, 502, 'UPSTREAM_BAD_RESPONSE'],
    [429, 503, 'UPSTREAM_RATE_LIMITED'],
    [500, 502, 'UPSTREAM_BAD_RESPONSE'],
    [502, 502, 'UPSTREAM_BAD_RESPONSE'],
    [503, 503, 'UPSTREAM_UNAVAILABLE'],
    [504, 504, 'UPSTREAM_TIMEOUT'],
    [418, 502, 'UPSTREAM_BAD_RESPONSE'],
  ];

  it.each(cases)('maps upstream %i to %i %s', (upstream, status, code) => {
    const err = translateStatus(upstream, none);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(status);
    expect(err.code).toBe(code);
    expect(err.field).toBeUndefined();
  });

  it('blames the caller only for a field the call declared as the caller’s, named plainly', () => {
    const before = '{"field":"before","detail":"Unknown message cursor msg_9"}';
    const blamed = translateStatus(422, none, before, ['before']);
    expect([blamed.status, blamed.code, blamed.field]).toEqual([400, 'VALIDATION_ERROR', 'before']);
    expect(blamed.detail).not.toContain('msg_9');
    expect(translateStatus(400, none, before, ['before']).field).toBe('before');
    // Not declared, another field, no field, not JSON, not a plain name: the upstream's problem.
    for (const [body, fields] of [
      [before, []],
      ['{"field":"role"}', ['before']],
      ['{"detail":"bad"}', ['before']],
      ['not json', ['before']],
      ['{"field":"<script>"}', ['<script>']],
    ] as const) {
      const err = translateStatus(422, none, body, fields);
      expect([err.status, err.code, err.field], body).toEqual([502, 'UPSTREAM_BAD_RESPONSE', undefined]);
    }
  });

  it('carries Retry-After for 429 (header or reset) and 503', () => {
    expect(translateStatus(429, new Headers({ 'Retry-After': '12' })).retryAfter).toBe(12);
    const reset = new Headers({ 'X-RateLimit-Reset': String(Math.floor(Date.now() / 1000) + 20) });
    const fromReset = translateStatus(429, reset).retryAfter ?? 0;
    expect(fromReset).toBeGreaterThanOrEqual(19);
    expect(fromReset).toBeLessThanOrEqual(21);
    expect(translateStatus(429, none).retryAfter).toBeGreaterThan(0);
    expect(translateStatus(503, new Headers({ 'Retry-After': '3' })).retryAfter).toBe(3);
    expect(translateStatus(401, none).retryAfter).toBeGreaterThan(0);
  });
});
