-- The tenant registry of record (README, Operator's guide). Applied by `npm start`
-- (local), `wrangler d1 migrations apply REGISTRY --remote` (production), the vitest
-- setup (test/setup/migrations.ts) and the process-test stand-in (scripts/lib/d1-local.mjs).

-- One row per tenant id ever known. `config` is the entry as the operator wrote it (the
-- JSON of a TENANTS entry, defaults not filled in). `source` says who owns the row:
-- `TENANTS` (seeded; a new TENANTS value replaces it) or `api` (created, edited or deleted
-- through the admin API; TENANTS no longer touches it). `deleted_at` marks a deleted
-- tenant; `rev` is a random token rewritten by every write (a read-modify-write checks it).
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  rev TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT 'api',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);

-- `generation`: a random token rewritten by every change, so an isolate can tell in one
-- read whether its cached copy is current.
CREATE TABLE registry_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Every TENANTS value (by SHA-256 digest) applied to the registry: each is applied once,
-- so isolates of an older deployment never undo a newer one's.
CREATE TABLE seeds (
  digest TEXT PRIMARY KEY,
  seeded_at TEXT NOT NULL
);

-- Every change: who (the first 12 hex of the operator key's SHA-256, or `TENANTS` for
-- a seed), what, when. Never a secret's value.
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  tenant TEXT,
  subject TEXT,
  detail TEXT
);
CREATE INDEX audit_by_at ON audit (at);
