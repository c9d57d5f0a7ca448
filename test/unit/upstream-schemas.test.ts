import { describe, expect, it } from 'vitest';
import {
  listOf,
  UpstreamAssistantListSchema,
  UpstreamFileSchema,
  UpstreamMessagesPageSchema,
  UpstreamThreadSchema,
  UpstreamTokenSchema,
} from '../../src/upstream/schemas';

describe('UpstreamTokenSchema', () => {
  it('prefers access_token, then token, then jwt_token', () => {
    expect(UpstreamTokenSchema.parse({ access_token: 'a', token: 't', jwt_token: 'j' }).token).toBe('a');
    expect(UpstreamTokenSchema.parse({ token: 't', jwt_token: 'j' }).token).toBe('t');
    expect(UpstreamTokenSchema.parse({ jwt_token: 'j', expires_in: 60 })).toEqual({
      token: 'j',
      expiresIn: 60,
    });
  });

  it('tolerates a bad expires_in', () => {
    expect(UpstreamTokenSchema.parse({ token: 't', expires_in: 'soon' })).toEqual({
      token: 't',
      expiresIn: undefined,
    });
  });

  it('rejects a response without a token', () => {
    expect(UpstreamTokenSchema.safeParse({ access_token: '' }).success).toBe(false);
    expect(UpstreamTokenSchema.safeParse({ error: 'Invalid credentials' }).success).toBe(false);
    expect(UpstreamTokenSchema.safeParse('token').success).toBe(false);
  });
});

describe('listOf', () => {
  const thread = { thread_id: 'thread_1', name: 'T', assistant_id: 'asst_support', _internal: 'CANARY' };

  it('accepts a bare array and the wrapped shape', () => {
    expect(listOf(UpstreamThreadSchema, 'threads').parse([thread])).toHaveLength(1);
    expect(listOf(UpstreamThreadSchema, 'threads').parse({ threads: [thread], total: 1 })).toHaveLength(1);
    expect(
      UpstreamAssistantListSchema.parse({ assistants: [{ assistant_id: 'a', name: 'A' }], total: 1 }),
    ).toEqual([{ assistant_id: 'a', name: 'A' }]);
    expect(listOf(UpstreamFileSchema, 'files').parse({ files: [], total: 0 })).toEqual([]);
  });

  it('rejects the wrong wrapper key and non-lists', () => {
    expect(listOf(UpstreamThreadSchema, 'threads').safeParse({ files: [thread] }).success).toBe(false);
    expect(listOf(UpstreamThreadSchema, 'threads').safeParse('nope').success).toBe(false);
    expect(listOf(UpstreamThreadSchema, 'threads').safeParse(null).success).toBe(false);
  });

  it('drops unknown upstream fields (assistant config, _internal)', () => {
    const [assistant] = UpstreamAssistantListSchema.parse([
      { assistant_id: 'asst_1', name: 'Support', config: { instructions: 'CANARY-INSTR' }, public: false },
    ]);
    expect(assistant).toEqual({ assistant_id: 'asst_1', name: 'Support' });
    expect(JSON.stringify(listOf(UpstreamThreadSchema, 'threads').parse([thread]))).not.toContain('CANARY');
  });
});

describe('item schemas', () => {
  it('parses a thread with messages', () => {
    const parsed = UpstreamThreadSchema.parse({
      thread_id: 'thread_1',
      name: null,
      messages: [{ role: 'user', content: 'Hello!', timestamp: '2024-01-15T12:01:00Z', _internal: 'x' }],
    });
    expect(parsed.messages?.[0]).toEqual({
      role: 'user',
      content: 'Hello!',
      timestamp: '2024-01-15T12:01:00Z',
    });
  });

  it('parses a messages page, defaulting has_more', () => {
    expect(UpstreamMessagesPageSchema.parse({ messages: [] })).toEqual({ messages: [], has_more: false });
    expect(UpstreamMessagesPageSchema.parse([{ role: 'assistant', content: 'Hi' }]).messages).toHaveLength(1);
    expect(UpstreamMessagesPageSchema.safeParse({ messages: [{ role: 'user' }] }).success).toBe(false);
  });
});
