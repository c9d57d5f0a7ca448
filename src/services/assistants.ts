import { UpstreamAssistantListSchema } from '../upstream/schemas';
import { projectScope, type RequestContext } from './context';

/**
 * The tenant's allow-listed assistants that exist upstream, in allow-list order:
 * id and name only, never instructions, tools or model configuration.
 */
export async function listAssistants(ctx: RequestContext): Promise<{ assistant_id: string; name: string }[]> {
  const all = await ctx.upstream.json(
    {
      method: 'GET',
      path: ['assistants'],
      trailingSlash: true,
      scope: projectScope(ctx),
      signal: ctx.signal,
    },
    UpstreamAssistantListSchema,
  );
  const byId = new Map(all.map((assistant) => [assistant.assistant_id, assistant.name]));
  return ctx.tenant.assistants.flatMap((id) => {
    const name = byId.get(id);
    return name === undefined ? [] : [{ assistant_id: id, name }];
  });
}
