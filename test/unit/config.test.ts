import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, parseConfig } from '../../src/config';

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
