/**
 * The operator's side of the tests: calls to the admin API (`/admin/v1`) with the test
 * operator key, and the schemas its answers are read through.
 */
import { z } from 'zod';
import { ADMIN_KEY } from '../fixtures/tenants';
import { parseJson } from './json';
import { callWorker } from './worker';

/** A tenant as the admin API shows it. */
export const TenantViewSchema = z.strictObject({
  id: z.string(),
  source: z.enum(['TENANTS', 'api']),
  created_at: z.string(),
  updated_at: z.string(),
  config: z.record(z.string(), z.unknown()),
});

export interface AdminOptions {
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  /** The operator key (default: the test key); `false` sends no `Authorization`. */
  key?: string | false;
}

/** An operator of the gateway configured with `overrides` (a test gateway's bindings). */
export function operator(overrides: Partial<Record<keyof Env, string>> = {}) {
  return {
    request(method: string, path: string, { json, body, headers = {}, key = ADMIN_KEY }: AdminOptions = {}) {
      const all: Record<string, string> = { ...headers };
      if (key !== false) all.authorization = `Bearer ${key}`;
      if (json !== undefined) all['content-type'] ??= 'application/json';
      return callWorker(
        `/admin/v1${path}`,
        { method, headers: all, body: json !== undefined ? JSON.stringify(json) : body },
        overrides,
      );
    },
  };
}

/** SHA-256 of `text`, hex (what `ADMIN_KEY_HASHES` lists, and the audit trail's actor prefix). */
export async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

const RunOutcomesSchema = z.object({
  rows: z.array(
    z.object({
      user: z.string().optional(),
      runs_started: z.number(),
      runs_completed: z.number(),
      runs_cancelled: z.number(),
    }),
  ),
});

/**
 * How `user`'s runs of today ended, from the admin usage export of the gateway configured
 * with `overrides` (zeros for a user with no row yet).
 */
export async function runOutcomesOf(
  overrides: Partial<Record<keyof Env, string>>,
  tenant: string,
  user: string,
): Promise<{ runs_started: number; runs_completed: number; runs_cancelled: number }> {
  const day = new Date().toISOString().slice(0, 10);
  const res = await operator(overrides).request(
    'GET',
    `/usage?tenant=${tenant}&from=${day}&to=${day}&group=user`,
  );
  if (res.status !== 200) throw new Error(`usage export: HTTP ${res.status}`);
  const row = (await parseJson(res, RunOutcomesSchema)).rows.find((r) => r.user === user);
  return {
    runs_started: row?.runs_started ?? 0,
    runs_completed: row?.runs_completed ?? 0,
    runs_cancelled: row?.runs_cancelled ?? 0,
  };
}
