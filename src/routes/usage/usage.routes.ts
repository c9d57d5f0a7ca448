import { z } from '@hono/zod-openapi';
import { sessionRoute } from '../define';
import { errorResponses, jsonContent } from '../schemas';

const UsageSchema = z
  .object({
    tenant: z.string(),
    user: z.string(),
    limits: z.object({
      requests_per_minute: z.number(),
      burst: z.number(),
      tenant_requests_per_minute: z.number(),
      concurrent_streams: z.number(),
      streams_per_user: z.number(),
      threads_per_user: z.number(),
      threads_total: z.number(),
      threads_per_user_per_day: z.number(),
      threads_per_day: z.number(),
      threads_per_month: z.number(),
      runs_per_user_per_day: z.number(),
      files_per_user: z.number(),
    }),
    threads: z.object({
      yours: z.number(),
      remaining: z.number(),
      tenant_total: z.number(),
      tenant_remaining: z.number(),
    }),
    files: z.object({
      yours: z.number(),
      remaining: z
        .number()
        .openapi({ description: '`files_per_user` less your files and uploads in flight' }),
      max_bytes: z.number(),
      types: z.array(z.string()),
    }),
    streams: z.object({ active: z.number(), max: z.number(), yours: z.number(), max_yours: z.number() }),
    budgets: z
      .record(
        z.enum(['threads_per_user_per_day', 'threads_per_day', 'threads_per_month', 'runs_per_user_per_day']),
        z.object({ limit: z.number(), used: z.number(), remaining: z.number(), reset_in: z.number() }),
      )
      .openapi({
        description:
          'Each spend budget in its current UTC window (day or month): what was spent, what is left, ' +
          'and the seconds until it resets. Spent is spent: deleting a thread gives nothing back.',
      }),
    rate: z.object({
      user: z.object({ remaining: z.number(), reset_in: z.number() }),
      tenant: z.object({ remaining: z.number(), reset_in: z.number() }),
    }),
  })
  .openapi('Usage');

export const usage = sessionRoute(
  { limiter: 'closed', governor: 'none', want: 'usage' },
  {
    method: 'get',
    path: '/usage',
    operationId: 'getUsage',
    summary: "The caller's limits, remaining quota and thread and file counts",
    responses: { 200: jsonContent(UsageSchema, 'Usage'), ...errorResponses() },
  },
);
