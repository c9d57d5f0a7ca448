import { z } from '@hono/zod-openapi';

/**
 * Any JSON value: virtual-database values and tool-call arguments. The one schema of
 * it (the OpenAPI document names it `JsonValue`, routes/schemas.ts).
 */
export const JsonValueSchema = z.json();
export type JsonValue = z.infer<typeof JsonValueSchema>;
