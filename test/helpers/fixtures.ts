/**
 * The setup the integration tests share, through the typed client of each `Caller`: a
 * thread, a file, the usage counters. Each asserts its own success, so a test that
 * builds on one fails at the step that broke.
 */
import { expect } from 'vitest';
import type { Caller } from './gateway';

/** A short random id (default 10 hex digits) for subjects, paths and tenant names no other test uses. */
export const unique = (length = 10): string => crypto.randomUUID().replaceAll('-', '').slice(0, length);

/** The body `POST /v1/threads` accepts. */
export type NewThread = Parameters<Caller['edge']['v1']['threads']['$post']>[0]['json'];

/** Creates a thread as `caller` (201 expected); resolves to its id. */
export async function newThread(caller: Caller, body: NewThread = {}): Promise<string> {
  const res = await caller.edge.v1.threads.$post({ json: body });
  expect(res.status).toBe(201);
  return (await res.json()).thread_id;
}

/** A file for an upload's `file` part. */
export function textFile(content: string | Uint8Array = 'x', name = 'x.txt', type = 'text/plain'): File {
  return new File([content], name, { type });
}

/** Uploads `file` as `caller` (201 expected); resolves to its id. */
export async function newFile(caller: Caller, file: File = textFile()): Promise<string> {
  const res = await caller.edge.v1.files.$post({ form: { file } });
  expect(res.status).toBe(201);
  return (await res.json()).file_id;
}

/** `GET /v1/usage` as `caller` (200 expected). */
export async function usage(caller: Caller) {
  const res = await caller.edge.v1.usage.$get();
  expect(res.status).toBe(200);
  return res.json();
}

/**
 * What `caller` has spent and holds: each budget's limit, used and remaining (not its
 * `reset_in`, which ticks between two reads a second apart) and the stream counts. Two
 * reads compare equal when nothing was spent or held between them.
 */
export async function spending(caller: Caller) {
  const { budgets, streams } = await usage(caller);
  const counts = Object.fromEntries(
    Object.entries(budgets).map(([name, { limit, used, remaining }]) => [name, { limit, used, remaining }]),
  );
  return { budgets: counts, streams };
}
