import { createRoute, z } from '@hono/zod-openapi';
import { admission } from '../../middleware/admission';
import { admitted, gateway } from '../../services/gateway';
import { createRouter } from '../router';
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
      threads_per_user: z.number(),
      threads_total: z.number(),
    }),
    threads: z.object({
      yours: z.number(),
      remaining: z.number(),
      tenant_total: z.number(),
      tenant_remaining: z.number(),
    }),
    files: z.object({ yours: z.number(), max_bytes: z.number(), types: z.array(z.string()) }),
    streams: z.object({ active: z.number(), max: z.number() }),
    rate: z.object({
      user: z.object({ remaining: z.number(), reset_in: z.number() }),
      tenant: z.object({ remaining: z.number(), reset_in: z.number() }),
    }),
  })
  .openapi('Usage');

const usage = createRoute({
  method: 'get',
  path: '/usage',
  operationId: 'getUsage',
  summary: "The caller's limits, remaining quota and thread counts",
  middleware: [admission({ want: 'usage', upstream: false })] as const,
  responses: { 200: jsonContent(UsageSchema, 'Usage'), ...errorResponses() },
});

/** What the caller may still do. No upstream call. */
export const usageRoutes = createRouter().openapi(usage, async (c) => {
  const gw = gateway(c);
  const { usage: counts = { threads: 0, threads_total: 0, files: 0, streams: 0 }, rate } = admitted(gw);
  const { limits, files } = gw.tenant;
  return c.json(
    {
      tenant: gw.tenant.id,
      user: gw.user,
      limits,
      threads: {
        yours: counts.threads,
        remaining: Math.max(
          0,
          Math.min(limits.threads_per_user - counts.threads, limits.threads_total - counts.threads_total),
        ),
        tenant_total: counts.threads_total,
        tenant_remaining: Math.max(0, limits.threads_total - counts.threads_total),
      },
      files: { yours: counts.files, max_bytes: files.max_bytes, types: files.types },
      streams: { active: counts.streams, max: limits.concurrent_streams },
      rate: {
        user: { remaining: rate.user.remaining, reset_in: rate.user.resetIn },
        tenant: { remaining: rate.tenant.remaining, reset_in: rate.tenant.resetIn },
      },
    },
    200,
  );
});
