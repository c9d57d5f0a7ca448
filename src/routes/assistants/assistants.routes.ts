import { z } from '@hono/zod-openapi';
import { sessionRoute } from '../define';
import { AssistantSchema, errorResponses, jsonContent } from '../schemas';

/** Touches no per-user data, so it may fail the limiter open (logged). */
export const listAssistants = sessionRoute(
  { limiter: 'open', governor: 'open' },
  {
    method: 'get',
    path: '/assistants',
    operationId: 'listAssistants',
    summary: "The tenant's allow-listed assistants (id and name only)",
    responses: {
      200: jsonContent(z.object({ assistants: z.array(AssistantSchema) }), 'Assistants'),
      ...errorResponses(),
    },
  },
);
