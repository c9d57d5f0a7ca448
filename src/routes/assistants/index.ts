import { createRoute, z } from '@hono/zod-openapi';
import { admission } from '../../middleware/admission';
import { listAssistants } from '../../services/assistants';
import { gateway } from '../../services/gateway';
import { createRouter } from '../router';
import { AssistantSchema, errorResponses, jsonContent } from '../schemas';

const list = createRoute({
  method: 'get',
  path: '/assistants',
  operationId: 'listAssistants',
  summary: "The tenant's allow-listed assistants (id and name only)",
  middleware: [admission({ failOpen: true })] as const,
  responses: {
    200: jsonContent(z.object({ assistants: z.array(AssistantSchema) }), 'Assistants'),
    ...errorResponses(),
  },
});

export const assistantRoutes = createRouter().openapi(list, async (c) =>
  c.json({ assistants: await listAssistants(gateway(c)) }, 200),
);
