import type { Hono } from 'hono';
import { z } from 'zod';
import type { Ctx, EmuEnv } from './http';
import { errorJson, listJson, notFound, parseJson, requireAccount, requireProject } from './http';
import { issueToken, tokenFields } from './jwt';
import { nextId, nowIso } from './state';
import type { Assistant, Project } from './types';

const jsonObject = z.record(z.string(), z.unknown());
const projectSchema = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  metadata: jsonObject.optional(),
});
const assistantSchema = z.object({
  name: z.string().min(1),
  config: jsonObject.optional(),
  public: z.boolean().optional(),
});

function projectBase(p: Project): Record<string, unknown> {
  return { project_id: p.project_id, name: p.name, description: p.description, created_at: p.created_at };
}

async function projectWithToken(c: Ctx, p: Project): Promise<Record<string, unknown>> {
  const token = await issueToken(c.var.u, p.owner, `project:${p.project_id}`);
  return { ...projectBase(p), ...tokenFields(c.var.u, token) };
}

function ownedProject(c: Ctx): Project | undefined {
  const p = c.var.u.projects.get(c.req.param('project_id') ?? '');
  return p && p.owner === c.var.account.user_id ? p : undefined;
}

function assistantView(a: Assistant): Record<string, unknown> {
  return {
    assistant_id: a.assistant_id,
    name: a.name,
    config: a.config,
    public: a.public,
    created_at: a.created_at,
  };
}

export function registerProjectRoutes(app: Hono<EmuEnv>): void {
  app.get('/projects', requireAccount, async (c) => {
    const owned = [...c.var.u.projects.values()].filter((p) => p.owner === c.var.account.user_id);
    const items = [];
    for (const p of owned) items.push(await projectWithToken(c, p));
    return listJson(c, 'projects', items);
  });

  app.post('/projects', requireAccount, async (c) => {
    const parsed = await parseJson(c, projectSchema);
    if (!parsed.ok) return parsed.response;
    const project: Project = {
      project_id: nextId(c.var.u, 'proj'),
      owner: c.var.account.user_id,
      name: parsed.data.name,
      description: parsed.data.description ?? '',
      metadata: parsed.data.metadata ?? {},
      created_at: nowIso(),
      assistants: new Map(),
      threads: new Map(),
      files: new Map(),
    };
    c.var.u.projects.set(project.project_id, project);
    return c.json(await projectWithToken(c, project), 201);
  });

  app.get('/projects/:project_id', requireAccount, async (c) => {
    const project = ownedProject(c);
    if (!project) return notFound(c, `Project ${c.req.param('project_id')} not found`);
    return c.json(await projectWithToken(c, project));
  });

  app.delete('/projects/:project_id', requireAccount, (c) => {
    const project = ownedProject(c);
    if (!project) return notFound(c, `Project ${c.req.param('project_id')} not found`);
    if (c.req.query('confirm') !== 'true') {
      return errorJson(c, 400, 'Bad Request', 'Deleting a project requires confirm=true', {
        field: 'confirm',
      });
    }
    c.var.u.projects.delete(project.project_id);
    return c.body(null, 204);
  });

  app.get('/assistants', requireProject, (c) =>
    listJson(c, 'assistants', [...c.var.project.assistants.values()].map(assistantView)),
  );

  app.post('/assistants', requireProject, async (c) => {
    const parsed = await parseJson(c, assistantSchema);
    if (!parsed.ok) return parsed.response;
    const assistant: Assistant = {
      assistant_id: nextId(c.var.u, 'asst'),
      name: parsed.data.name,
      config: parsed.data.config ?? {},
      public: parsed.data.public ?? false,
      created_at: nowIso(),
    };
    c.var.project.assistants.set(assistant.assistant_id, assistant);
    return c.json(assistantView(assistant), 201);
  });

  app.get('/assistants/:assistant_id', requireProject, (c) => {
    const a = c.var.project.assistants.get(c.req.param('assistant_id'));
    return a ? c.json(assistantView(a)) : notFound(c, `Assistant ${c.req.param('assistant_id')} not found`);
  });

  app.delete('/assistants/:assistant_id', requireProject, (c) => {
    const deleted = c.var.project.assistants.delete(c.req.param('assistant_id'));
    return deleted ? c.body(null, 204) : notFound(c, `Assistant ${c.req.param('assistant_id')} not found`);
  });
}
