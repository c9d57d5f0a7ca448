import { z } from 'zod';
import type { Knobs, KnobsPatch } from './types';

export function defaultKnobs(): Knobs {
  return {
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
  };
}

const nonNegInt = z.number().int().nonnegative();

const streamPatchSchema = z.strictObject({
  pace_ms: nonNegInt.optional(),
  stall_before_first_byte_ms: nonNegInt.optional(),
  delay_headers_ms: nonNegInt.optional(),
  fail_after_events: nonNegInt.nullable().optional(),
  fail_mode: z.enum(['error', 'close']).optional(),
  line_ending: z.enum(['lf', 'crlf', 'cr']).optional(),
  split_chunks: z.boolean().optional(),
  extras: z.boolean().optional(),
  raw: z.array(z.string()).nullable().optional(),
});

const overrideSchema = z.strictObject({
  method: z.string().min(1).optional(),
  path: z.string().startsWith('/'),
  status: z.number().int().min(100).max(599),
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  times: nonNegInt.optional(),
});

export const knobsPatchSchema = z.strictObject({
  latency_ms: nonNegInt.optional(),
  status_overrides: z.array(overrideSchema).optional(),
  reject_logins: z.boolean().optional(),
  token_ttl_seconds: nonNegInt.optional(),
  list_shape: z.enum(['array', 'object']).optional(),
  token_field: z.enum(['all', 'access_token', 'token', 'jwt_token']).optional(),
  reply: z.string().nullable().optional(),
  tool_calls: z
    .array(z.strictObject({ name: z.string(), args: z.record(z.string(), z.unknown()) }))
    .nullable()
    .optional(),
  rate_limit_per_minute: z.number().int().positive().optional(),
  stream: streamPatchSchema.optional(),
});

/** Merges a validated patch into the knobs (in place); `stream` is merged one level deep. */
export function mergeKnobs(knobs: Knobs, patch: KnobsPatch): Knobs {
  const { stream, ...rest } = patch;
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) Object.assign(knobs, { [key]: value });
  }
  if (stream) {
    for (const [key, value] of Object.entries(stream)) {
      if (value !== undefined) Object.assign(knobs.stream, { [key]: value });
    }
  }
  return knobs;
}
