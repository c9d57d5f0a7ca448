import { AssistantListSchema } from '../upstream/schemas';
import { type Gateway, projectScope } from './gateway';

/**
 * The tenant's allow-listed assistants that exist upstream, in allow-list order:
 * id and name only, never instructions, tools or model configuration.
 */
export async function listAssistants(gw: Gateway): Promise<{ assistant_id: string; name: string }[]> {
  const all = await gw.upstream.json(
    {
      method: 'GET',
      path: ['assistants'],
      trailingSlash: true,
      scope: projectScope(gw),
      signal: gw.signal,
    },
    AssistantListSchema,
  );
  const byId = new Map(all.map((assistant) => [assistant.assistant_id, assistant.name]));
  return gw.tenant.assistants.flatMap((id) => {
    const name = byId.get(id);
    return name === undefined ? [] : [{ assistant_id: id, name }];
  });
}
