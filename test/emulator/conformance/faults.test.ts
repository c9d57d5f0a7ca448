import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bearer, freshEmulator, login } from '../../helpers/emulator';
import { parseJson } from '../../helpers/json';

const emu = freshEmulator('faults');
const base = emu.baseUrl;

beforeEach(async () => {
  await emu.reset();
});

describe('control API', () => {
  it('GET /__emulator/config returns the defaults; POST merges (stream one level deep)', async () => {
    const defaults = await emu.config();
    expect(defaults).toEqual({
      latency_ms: 0,
      status_overrides: [],
      reject_logins: false,
      token_ttl_seconds: 3600,
      list_shape: 'array',
      token_field: 'all',
      reply: null,
      tool_calls: null,
      rate_limit_per_minute: 300,
      stream: {
        pace_ms: 0,
        stall_before_first_byte_ms: 0,
        delay_headers_ms: 0,
        fail_after_events: null,
        fail_mode: 'error',
        line_ending: 'lf',
        split_chunks: false,
        extras: false,
        raw: null,
      },
    });
    await emu.configure({ stream: { pace_ms: 5 } });
    const merged = await emu.configure({ latency_ms: 1, stream: { extras: true } });
    expect(merged.latency_ms).toBe(1);
    expect(merged.stream).toMatchObject({ pace_ms: 5, extras: true, line_ending: 'lf' });
    expect(await emu.config()).toEqual(merged);
  });

  it('rejects unknown or mistyped knobs with 400', async () => {
    const res = await fetch(emu.url('/__emulator/config'), {
      method: 'POST',
      body: JSON.stringify({ latency: 5 }),
    });
    expect(res.status).toBe(400);
    const bad = await fetch(emu.url('/__emulator/config'), {
      method: 'POST',
      body: JSON.stringify({ stream: { line_ending: 'crcr' } }),
    });
    expect(bad.status).toBe(400);
  });

  it('reset restores knobs, data and counters', async () => {
    await emu.configure({ latency_ms: 3, reply: 'x' });
    await login(base);
    await emu.setAccount({ thread_counter: 7 });
    await emu.reset();
    expect((await emu.config()).latency_ms).toBe(0);
    const stats = await emu.stats();
    expect(stats).toMatchObject({ logins: 0, requests: {}, request_log: [], tokens_issued: [] });
    const info = await fetch(`${base}/auth/thread-info`, { headers: bearer(await login(base)) });
    expect((await parseJson(info, z.looseObject({ thread_counter: z.number() }))).thread_counter).toBe(0);
  });

  it('is never counted nor rate limited', async () => {
    await emu.configure({ rate_limit_per_minute: 1 });
    for (let i = 0; i < 5; i++) await emu.stats();
    const stats = await emu.stats();
    expect(stats.requests).toEqual({});
    expect(stats.request_log).toEqual([]);
    expect(stats.rate_limited).toBe(0);
  });
});

describe('counters', () => {
  it('requests by route pattern and request_log by real path', async () => {
    const token = await login(base);
    await fetch(`${base}/projects/proj_acme`, { headers: bearer(token) });
    await fetch(`${base}/projects`, { headers: bearer(token) });
    await fetch(`${base}/projects/`);
    await fetch(`${base}/no/such/route`);
    const stats = await emu.stats();
    expect(stats.requests).toEqual({
      'POST /auth/login': 1,
      'GET /projects/:project_id': 1,
      'GET /projects/': 2,
      'GET /*': 1,
    });
    expect(stats.request_log).toEqual([
      { method: 'POST', path: '/auth/login', authorization: null, status: 200 },
      { method: 'GET', path: '/projects/proj_acme', authorization: `Bearer ${token}`, status: 200 },
      { method: 'GET', path: '/projects', authorization: `Bearer ${token}`, status: 200 },
      { method: 'GET', path: '/projects/', authorization: null, status: 401 },
      { method: 'GET', path: '/no/such/route', authorization: null, status: 404 },
    ]);
    expect(stats.tokens_issued).toHaveLength(5); // login + one project token + three in the list
  });
});

describe('latency_ms', () => {
  it('delays every upstream response, not the control API', async () => {
    await emu.configure({ latency_ms: 250 });
    let t0 = Date.now();
    const res = await fetch(`${base}/projects/`);
    expect(res.status).toBe(401);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    t0 = Date.now();
    await emu.stats();
    expect(Date.now() - t0).toBeLessThan(240);
  });
});

describe('status_overrides', () => {
  it('applies `times` times to an exact path and method, then stops', async () => {
    await emu.configure({
      status_overrides: [
        { method: 'POST', path: '/auth/login/', status: 503, headers: { 'retry-after': '1' }, times: 2 },
      ],
    });
    const attempt = () => fetch(`${base}/auth/login`, { method: 'POST', body: '{}' });
    const first = await attempt();
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(first.headers.get('x-ratelimit-limit')).toBe('300');
    expect(await first.json()).toEqual({
      error: 'Service Unavailable',
      detail: 'Injected by emulator status override',
    });
    expect((await attempt()).status).toBe(503);
    expect((await attempt()).status).toBe(422);
    expect((await emu.config()).status_overrides[0]?.times).toBe(0);
    const stats = await emu.stats();
    expect(stats.request_log.map((e) => e.status)).toEqual([503, 503, 422]);
    expect(stats.requests['POST /auth/login']).toBe(3);
  });

  it('matches prefixes, filters methods, carries custom bodies and stays forever without times', async () => {
    await emu.configure({
      status_overrides: [
        { method: 'GET', path: '/threads/*', status: 500, body: { error: 'boom', detail: 'custom' } },
        { path: '/credits/*', status: 502, body: 'upstream <html> error page' },
      ],
    });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/threads/thread_1`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'boom', detail: 'custom' });
    }
    expect((await fetch(`${base}/threads/thread_1`, { method: 'DELETE' })).status).toBe(401);
    const text = await fetch(`${base}/credits/balance`);
    expect(text.status).toBe(502);
    expect(text.headers.get('content-type')).toContain('text/plain');
    expect(await text.text()).toBe('upstream <html> error page');
  });
});

describe('rate limiting', () => {
  it('announces X-RateLimit-* on every response', async () => {
    const res = await fetch(`${base}/projects/`);
    expect(res.headers.get('x-ratelimit-limit')).toBe('300');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('299');
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    expect(reset % 60).toBe(0);
    expect(reset * 1000).toBeGreaterThan(Date.now());
    expect(reset * 1000 - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('answers 429 with Retry-After once the per-minute limit is spent', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      await emu.reset();
      await emu.configure({ rate_limit_per_minute: 3 });
      const responses = [];
      for (let i = 0; i < 5; i++) responses.push(await fetch(`${base}/projects/`));
      const resets = new Set(responses.map((r) => r.headers.get('x-ratelimit-reset')));
      if (resets.size > 1) continue; // crossed a minute boundary: try again in the new window
      expect(responses.map((r) => r.status)).toEqual([401, 401, 401, 429, 429]);
      expect(responses.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0', '0', '0']);
      const limited = responses[3];
      if (!limited) throw new Error('no fourth response');
      expect(await limited.json()).toEqual({ error: 'Too Many Requests', detail: 'Rate limit exceeded' });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const stats = await emu.stats();
      expect(stats.rate_limited).toBe(2);
      expect(stats.requests['GET /projects/']).toBe(5);
      return;
    }
    throw new Error('could not stay within one rate-limit window');
  });

  it('sets the current window on request (POST /__emulator/rate), whatever the minute', async () => {
    await emu.reset();
    await emu.setRate({ remaining: 2, reset_in_s: 120 });
    const responses = [];
    for (let i = 0; i < 3; i++) responses.push(await fetch(`${base}/projects/`));
    expect(responses.map((r) => r.status)).toEqual([401, 401, 429]);
    expect(responses.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['1', '0', '0']);
    // The window ends where it was set to (past the next minute), not at a minute's end.
    const reset = Number(responses[0]?.headers.get('x-ratelimit-reset'));
    expect(new Set(responses.map((r) => r.headers.get('x-ratelimit-reset'))).size).toBe(1);
    expect(reset * 1000 - Date.now()).toBeGreaterThan(110_000);
    expect(Number(responses[2]?.headers.get('retry-after'))).toBeGreaterThan(110);
    // More than the limit is refused, and changes nothing.
    const refused = await fetch(`${base}/__emulator/rate`, { method: 'POST', body: '{"remaining":301}' });
    expect(refused.status).toBe(400);
    expect((await fetch(`${base}/projects/`)).status).toBe(429);
  });
});
