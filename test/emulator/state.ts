import {
  CANARY_INTERNAL,
  SEED_ACCOUNT,
  SEED_ASSISTANTS,
  SEED_PROJECTS,
  seedAssistantConfig,
} from './canaries';
import { emptyIdp } from './idp';
import { defaultKnobs } from './knobs';
import type { Account, FileRecord, Message, Project, Stats, Thread, Universe } from './types';

/** Every universe, keyed by the request URL's host. Lives while the isolate / process lives. */
const universes = new Map<string, Universe>();

export const REQUEST_LOG_MAX = 2000;

function emptyStats(): Stats {
  return {
    logins: 0,
    login_failures: 0,
    requests: {},
    request_log: [],
    tokens_issued: [],
    streams_opened: 0,
    streams_completed: 0,
    streams_cancelled: 0,
    streams_failed: 0,
    runs: 0,
    rate_limited: 0,
  };
}

function seedProjects(owner: string): Map<string, Project> {
  const projects = new Map<string, Project>();
  for (const p of SEED_PROJECTS) {
    const project: Project = {
      ...p,
      owner,
      metadata: {},
      assistants: new Map(),
      threads: new Map(),
      files: new Map(),
    };
    for (const a of SEED_ASSISTANTS) {
      project.assistants.set(a.assistant_id, { ...a, config: seedAssistantConfig(a.name) });
    }
    projects.set(p.project_id, project);
  }
  return projects;
}

function seededState(host: string): Universe {
  const account: Account = { ...SEED_ACCOUNT };
  return {
    host,
    accounts: new Map([[account.email, account]]),
    projects: seedProjects(account.user_id),
    tokens: new Map(),
    knobs: defaultKnobs(),
    stats: emptyStats(),
    seq: 0,
    rate: { windowEnd: 0, count: 0 },
    idp: emptyIdp(),
  };
}

export function getUniverse(host: string): Universe {
  let u = universes.get(host);
  if (!u) {
    u = seededState(host);
    universes.set(host, u);
  }
  return u;
}

/** Restores the universe to the seed in place (knobs, counters and tokens too). */
export function resetUniverse(u: Universe): void {
  Object.assign(u, seededState(u.host));
}

/** A new id unique within the universe, e.g. `thread_7`. */
export function nextId(u: Universe, prefix: string): string {
  u.seq += 1;
  return `${prefix}_${u.seq}`;
}

export function nowIso(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function accountById(u: Universe, userId: string): Account | undefined {
  for (const a of u.accounts.values()) if (a.user_id === userId) return a;
  return undefined;
}

export function ownerAccount(u: Universe, project: Project): Account | undefined {
  return accountById(u, project.owner);
}

export function messageView(m: Message): Record<string, unknown> {
  return { ...m, _internal: CANARY_INTERNAL };
}

export function threadView(t: Thread, withMessages = false): Record<string, unknown> {
  const view: Record<string, unknown> = {
    thread_id: t.thread_id,
    name: t.name,
    assistant_id: t.assistant_id,
    metadata: t.metadata,
    created_at: t.created_at,
    _internal: CANARY_INTERNAL,
  };
  if (withMessages) view.messages = t.messages.map(messageView);
  return view;
}

export function fileView(f: FileRecord): Record<string, unknown> {
  return { ...f, _internal: CANARY_INTERNAL };
}
