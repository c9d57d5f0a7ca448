import { z } from '@hono/zod-openapi';
import { sessionRoute } from '../define';
import { NextCursor, PageQuery } from '../pagination';
import {
  ApiIdSchema,
  errorResponses,
  jsonBody,
  jsonContent,
  MessageSchema,
  MessagesPageSchema,
  ThreadDetailSchema,
  ThreadParams,
  ThreadSchema,
} from '../schemas';

const MetadataSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.union([z.string().max(512), z.number(), z.boolean()]))
  .refine((value) => Object.keys(value).length <= 16, 'at most 16 keys');

const CreateThreadBody = z
  .object({
    assistant_id: ApiIdSchema.optional(),
    name: z.string().min(1).max(200).optional(),
    metadata: MetadataSchema.optional(),
  })
  .strict()
  .openapi('CreateThread');

export const createThread = sessionRoute(
  { limiter: 'closed', governor: 'closed', reserve: 'thread' },
  {
    method: 'post',
    path: '/threads',
    operationId: 'createThread',
    summary: 'Create a thread (counts against the thread quotas)',
    request: { body: jsonBody(CreateThreadBody) },
    responses: { 201: jsonContent(ThreadSchema, 'The new thread'), ...errorResponses(400, 413) },
  },
);

export const listThreads = sessionRoute(
  { limiter: 'closed', governor: 'none', want: 'threads' },
  {
    method: 'get',
    path: '/threads',
    operationId: 'listThreads',
    summary: "The caller's own threads, newest first, a page at a time (`limit`, `cursor`)",
    request: { query: PageQuery },
    responses: {
      200: jsonContent(
        z.object({ threads: z.array(ThreadSchema), next_cursor: NextCursor }).openapi('ThreadsPage'),
        'Threads',
      ),
      ...errorResponses(400),
    },
  },
);

export const getThread = sessionRoute(
  { limiter: 'local', governor: 'open', owns: 'thread' },
  {
    method: 'get',
    path: '/threads/{thread_id}',
    operationId: 'getThread',
    summary: 'A thread and its messages',
    request: { params: ThreadParams },
    responses: { 200: jsonContent(ThreadDetailSchema, 'The thread'), ...errorResponses(400, 404) },
  },
);

export const deleteThread = sessionRoute(
  { limiter: 'closed', governor: 'open', owns: 'thread' },
  {
    method: 'delete',
    path: '/threads/{thread_id}',
    operationId: 'deleteThread',
    summary: 'Delete a thread',
    request: { params: ThreadParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 404) },
  },
);

const MessagesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(50),
    before: ApiIdSchema.optional(),
  })
  .strict();

export const listMessages = sessionRoute(
  { limiter: 'local', governor: 'open', owns: 'thread' },
  {
    method: 'get',
    path: '/threads/{thread_id}/messages',
    operationId: 'listMessages',
    summary: 'A page of messages (oldest first); `before` is a message id cursor',
    request: { params: ThreadParams, query: MessagesQuery },
    responses: { 200: jsonContent(MessagesPageSchema, 'Messages'), ...errorResponses(400, 404) },
  },
);

const PostMessageBody = z
  .object({ content: z.string().min(1).max(32_000) })
  .strict()
  .openapi('PostMessage');

export const postMessage = sessionRoute(
  { limiter: 'closed', governor: 'open', owns: 'thread' },
  {
    method: 'post',
    path: '/threads/{thread_id}/messages',
    operationId: 'postMessage',
    summary: 'Add a user message without running the assistant',
    request: {
      params: ThreadParams,
      body: jsonBody(PostMessageBody),
    },
    responses: { 201: jsonContent(MessageSchema, 'The message'), ...errorResponses(400, 404, 413) },
  },
);
