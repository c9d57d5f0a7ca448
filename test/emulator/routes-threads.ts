import type { Hono } from 'hono';
import { z } from 'zod';
import { DEFAULT_TOOL_CALLS } from './canaries';
import type { Ctx, EmuEnv } from './http';
import { errorJson, listJson, notFound, parseJson, requireProject, validationError } from './http';
import { messageView, nextId, nowIso, ownerAccount, threadView } from './state';
import { runEvents, sseBlocks, sseResponse } from './stream';
import type { Message, Thread, ToolCall } from './types';

const jsonObject = z.record(z.string(), z.unknown());
const threadSchema = z.object({
  assistant_id: z.string().min(1),
  name: z.string().optional(),
  metadata: jsonObject.optional(),
  configurable: jsonObject.optional(),
});
const messageSchema = z.object({
  role: z.enum(['user', 'assistant', 'system']),
  content: z.string(),
});
const runSchema = z.object({ message: z.string().min(1), stream: z.boolean().optional() });

export const MESSAGES_DEFAULT_LIMIT = 50;
export const MESSAGES_MAX_LIMIT = 100;

function findThread(c: Ctx): Thread | undefined {
  return c.var.project.threads.get(c.req.param('thread_id') ?? '');
}

function threadNotFound(c: Ctx): Response {
  return notFound(c, `Thread ${c.req.param('thread_id')} not found`);
}

function addMessage(c: Ctx, thread: Thread, role: string, content: string): Message {
  const message: Message = { message_id: nextId(c.var.u, 'msg'), role, content, timestamp: nowIso() };
  thread.messages.push(message);
  return message;
}

function messagesPage(c: Ctx, thread: Thread): Response {
  const rawLimit = c.req.query('limit');
  let limit = MESSAGES_DEFAULT_LIMIT;
  if (rawLimit !== undefined) {
    limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1) {
      return validationError(c, 'limit', 'limit must be a positive integer');
    }
    limit = Math.min(limit, MESSAGES_MAX_LIMIT);
  }
  const before = c.req.query('before');
  let end = thread.messages.length;
  if (before !== undefined) {
    end = thread.messages.findIndex((m) => m.message_id === before);
    if (end < 0) return validationError(c, 'before', `Unknown message cursor '${before}'`);
  }
  const start = Math.max(0, end - limit);
  return c.json({ messages: thread.messages.slice(start, end).map(messageView), has_more: start > 0 });
}

export function registerThreadRoutes(app: Hono<EmuEnv>): void {
  app.get('/threads', requireProject, (c) =>
    listJson(
      c,
      'threads',
      [...c.var.project.threads.values()].map((t) => threadView(t)),
    ),
  );

  app.post('/threads', requireProject, async (c) => {
    const parsed = await parseJson(c, threadSchema);
    if (!parsed.ok) return parsed.response;
    const { assistant_id } = parsed.data;
    if (!c.var.project.assistants.has(assistant_id))
      return notFound(c, `Assistant ${assistant_id} not found`);
    const account = ownerAccount(c.var.u, c.var.project);
    if (!account) return notFound(c, 'Account not found');
    if (account.thread_counter >= account.thread_max) {
      return errorJson(c, 403, 'Forbidden', 'Thread limit reached', { code: 'THREAD_LIMIT' });
    }
    account.thread_counter += 1;
    const thread: Thread = {
      thread_id: nextId(c.var.u, 'thread'),
      name: parsed.data.name ?? 'Untitled thread',
      assistant_id,
      metadata: parsed.data.metadata ?? { configurable: {}, type: 'thread' },
      configurable: parsed.data.configurable ?? {},
      created_at: nowIso(),
      messages: [],
      db: {},
    };
    c.var.project.threads.set(thread.thread_id, thread);
    return c.json(threadView(thread), 201);
  });

  app.get('/threads/:thread_id', requireProject, (c) => {
    const thread = findThread(c);
    return thread ? c.json(threadView(thread, true)) : threadNotFound(c);
  });

  app.delete('/threads/:thread_id', requireProject, (c) => {
    const deleted = c.var.project.threads.delete(c.req.param('thread_id'));
    return deleted ? c.body(null, 204) : threadNotFound(c);
  });

  app.get('/threads/:thread_id/messages', requireProject, (c) => {
    const thread = findThread(c);
    return thread ? messagesPage(c, thread) : threadNotFound(c);
  });

  app.post('/threads/:thread_id/messages', requireProject, async (c) => {
    const thread = findThread(c);
    if (!thread) return threadNotFound(c);
    const parsed = await parseJson(c, messageSchema);
    if (!parsed.ok) return parsed.response;
    return c.json(messageView(addMessage(c, thread, parsed.data.role, parsed.data.content)), 201);
  });

  app.post('/threads/:thread_id/run', requireProject, async (c) => {
    const u = c.var.u;
    const thread = findThread(c);
    if (!thread) return threadNotFound(c);
    const parsed = await parseJson(c, runSchema);
    if (!parsed.ok) return parsed.response;
    u.stats.runs += 1;
    const runId = nextId(u, 'run');
    const reply = u.knobs.reply ?? `Echo: ${parsed.data.message}`;
    const toolCalls: ToolCall[] =
      u.knobs.tool_calls ?? DEFAULT_TOOL_CALLS.map((t) => ({ ...t, args: { ...t.args } }));
    // Both messages are stored before the reply is sent, so history is deterministic for tests.
    addMessage(c, thread, 'user', parsed.data.message);
    addMessage(c, thread, 'assistant', reply);
    if (parsed.data.stream === false) {
      return c.json({ run_id: runId, content: reply, tool_calls: toolCalls });
    }
    const knobs = { ...u.knobs.stream };
    const blocks = knobs.raw ?? sseBlocks(runEvents(runId, reply, toolCalls), knobs);
    return sseResponse(u, { blocks, knobs, signal: c.req.raw.signal });
  });
}
