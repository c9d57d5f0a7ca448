// Turns a wrangler.toml plus the output of `wrangler deploy --dry-run --outdir` into a
// workerd capnp config, so the bench and the process tests serve the production bundle
// with `workerd serve` directly (wrangler dev adds ~10 ms of proxy layers; see
// runtime-facts.md).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * @typedef {{ binding: string, className: string, sqlite: boolean }} DurableObjectDecl
 * @typedef {{ name: string, queries: string[] }} D1Migration
 * @typedef {{ binding: string, migrations: D1Migration[] }} D1Decl
 * @typedef {{
 *   name: string, main: string, compatibilityDate: string, compatibilityFlags: string[],
 *   vars: Record<string, unknown>, durableObjects: DurableObjectDecl[], d1Databases: D1Decl[],
 *   notes: string[],
 * }} WorkerDecl
 * @typedef {{ name: string, type: 'esModule' | 'commonJsModule' | 'text' | 'data' | 'wasm' | 'json', file: string }} ModuleDecl
 */

/** Binding kinds that `workerd serve` alone cannot provide; they are skipped with a note. */
const UNSUPPORTED_KEYS = [
  'kv_namespaces',
  'r2_buckets',
  'services',
  'analytics_engine_datasets',
  'ai',
  'browser',
  'workflows',
  'vectorize',
  'hyperdrive',
  'send_email',
  'assets',
  'ratelimits',
  'version_metadata',
  'dispatch_namespaces',
  'mtls_certificates',
  'secrets_store_secrets',
];

/**
 * Reads the parts of a wrangler config that serving it with workerd needs.
 * @param {string} configPath path to wrangler.toml (or .json/.jsonc)
 * @returns {Promise<WorkerDecl>}
 */
export async function readWorkerDecl(configPath) {
  const { experimental_readRawConfig } = await import('wrangler');
  /** @type {Record<string, any>} */
  const raw = experimental_readRawConfig({ config: configPath }).rawConfig;
  return workerDeclFromRaw(raw, path.dirname(path.resolve(configPath)));
}

/**
 * The migrations of a D1 database, as `wrangler d1 migrations apply` takes them: the
 * `.sql` files of `dir` in name order, each split into statements (comments dropped;
 * a statement ends with `;` at the end of a line).
 * @param {string} dir
 * @returns {D1Migration[]}
 */
export function readD1Migrations(dir) {
  let files;
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
  } catch {
    return [];
  }
  return files.sort().map((name) => {
    const text = readFileSync(path.join(dir, name), 'utf8')
      .split('\n')
      .filter((line) => !line.trim().startsWith('--'))
      .join('\n');
    const queries = text
      .split(/;\s*$/m)
      .map((q) => q.trim())
      .filter(Boolean);
    return { name, queries };
  });
}

/**
 * @param {Record<string, any>} raw the parsed top level of a wrangler config
 * @param {string} [configDir] where the config lives (D1 `migrations_dir` is relative to it)
 * @returns {WorkerDecl}
 */
export function workerDeclFromRaw(raw, configDir = '.') {
  /** @type {string[]} */
  const notes = [];

  // Which classes are SQLite-backed follows from the migrations, applied in order.
  /** @type {Map<string, boolean>} */
  const sqliteByClass = new Map();
  for (const m of raw.migrations ?? []) {
    for (const c of m.new_classes ?? []) sqliteByClass.set(c, false);
    for (const c of m.new_sqlite_classes ?? []) sqliteByClass.set(c, true);
    for (const { from, to } of m.renamed_classes ?? []) {
      sqliteByClass.set(to, sqliteByClass.get(from) ?? false);
      sqliteByClass.delete(from);
    }
    for (const c of m.deleted_classes ?? []) sqliteByClass.delete(c);
  }

  /** @type {DurableObjectDecl[]} */
  const durableObjects = [];
  for (const b of raw.durable_objects?.bindings ?? []) {
    if (b.script_name && b.script_name !== raw.name) {
      notes.push(
        `durable object binding ${b.name}: class ${b.class_name} lives in ${b.script_name}; skipped`,
      );
      continue;
    }
    if (!sqliteByClass.has(b.class_name)) {
      notes.push(`durable object class ${b.class_name} has no migration; assuming SQLite storage`);
    }
    durableObjects.push({
      binding: b.name,
      className: b.class_name,
      sqlite: sqliteByClass.get(b.class_name) ?? true,
    });
  }

  // D1 databases are served by a local stand-in (d1-local.worker.js), migrated at start.
  /** @type {D1Decl[]} */
  const d1Databases = (raw.d1_databases ?? []).map((/** @type {Record<string, any>} */ d) => ({
    binding: d.binding,
    migrations: readD1Migrations(path.resolve(configDir, d.migrations_dir ?? 'migrations')),
  }));

  for (const p of raw.queues?.producers ?? []) {
    notes.push(`queue producer ${p.binding} (queue ${p.queue}) skipped: workerd serve cannot provide Queues`);
  }
  for (const c of raw.queues?.consumers ?? []) {
    notes.push(`queue consumer for ${c.queue} skipped: nothing delivers messages under workerd serve`);
  }
  for (const key of UNSUPPORTED_KEYS) {
    const value = raw[key];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    notes.push(`${key} skipped: not provided by the generated workerd config`);
  }

  return {
    name: raw.name ?? 'worker',
    main: raw.main ?? 'src/index.ts',
    compatibilityDate: raw.compatibility_date ?? '2024-01-01',
    compatibilityFlags: raw.compatibility_flags ?? [],
    vars: raw.vars ?? {},
    durableObjects,
    d1Databases,
    notes,
  };
}

/** @type {Record<string, ModuleDecl['type']>} */
const TYPE_BY_EXT = {
  '.js': 'esModule',
  '.mjs': 'esModule',
  '.cjs': 'commonJsModule',
  '.txt': 'text',
  '.html': 'text',
  '.sql': 'text',
  '.bin': 'data',
  '.wasm': 'wasm',
  '.json': 'json',
};

/**
 * Lists the modules wrangler wrote to `outdir`, main module first.
 * @param {string} outdir
 * @param {string} main the `main` of wrangler.toml (its basename names the bundle)
 * @returns {ModuleDecl[]}
 */
export function collectModules(outdir, main) {
  /** @type {ModuleDecl[]} */
  const modules = [];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(file);
        continue;
      }
      const name = path.relative(outdir, file).split(path.sep).join('/');
      if (name.endsWith('.map') || name === 'README.md') continue;
      const type = TYPE_BY_EXT[path.extname(name)];
      if (type) modules.push({ name, type, file });
    }
  };
  walk(outdir);
  const mainName = path.basename(main).replace(/\.[cm]?[jt]sx?$/, '.js');
  const index = modules.findIndex((m) => m.name === mainName);
  if (index < 0) throw new Error(`no ${mainName} among the bundle's files in ${outdir}`);
  modules.unshift(...modules.splice(index, 1));
  return modules;
}

/**
 * A capnp text literal. Capnp accepts C-style escapes; JSON's \uXXXX is not one of them.
 * @param {string} value
 */
export function capnpString(value) {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * @typedef {{
 *   service: string, port: number, modules: ModuleDecl[], compatibilityDate: string,
 *   compatibilityFlags: string[], text?: Record<string, string>, json?: Record<string, unknown>,
 *   durableObjects?: DurableObjectDecl[], d1Databases?: D1Decl[], storageDir?: string,
 * }} WorkerSpec
 */

/**
 * Renders a workerd config: one worker behind one HTTP socket on 127.0.0.1, with
 * outbound fetch through a network service that allows loopback.
 * @param {WorkerSpec} spec
 * @param {string} configDir the directory the config will be written to (embeds are relative to it)
 * @returns {string}
 */
export function renderCapnp(spec, configDir) {
  const s = spec.service;
  if (!/^[a-z][A-Za-z0-9]*$/.test(s)) throw new Error(`service name ${s} must be a capnp identifier`);
  const durableObjects = spec.durableObjects ?? [];
  const d1 = spec.d1Databases ?? [];
  if ((durableObjects.length > 0 || d1.length > 0) && !spec.storageDir) {
    throw new Error('durable objects and D1 databases need a storageDir');
  }
  const d1Service = (/** @type {number} */ i) => `${s}-d1-${i}`;
  const bindings = [
    ...Object.entries(spec.text ?? {}).map(
      ([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`,
    ),
    ...Object.entries(spec.json ?? {}).map(
      ([k, v]) => `(name = ${capnpString(k)}, json = ${capnpString(JSON.stringify(v))})`,
    ),
    ...durableObjects.map(
      (d) =>
        `(name = ${capnpString(d.binding)}, durableObjectNamespace = (className = ${capnpString(d.className)}))`,
    ),
    // workerd's own D1 client, talking to the stand-in service.
    ...d1.map(
      (d, i) =>
        `(name = ${capnpString(d.binding)}, wrapped = (moduleName = "cloudflare-internal:d1-api", innerBindings = [(name = "fetcher", service = ${capnpString(d1Service(i))})]))`,
    ),
  ];
  const modules = spec.modules.map((m) => {
    const rel = path.relative(configDir, m.file).split(path.sep).join('/');
    return `(name = ${capnpString(m.name)}, ${m.type} = embed ${capnpString(rel)})`;
  });
  // One namespace entry per class, even if several bindings point at it.
  const classes = new Map(durableObjects.map((d) => [d.className, d.sqlite]));
  const namespaces = [...classes].map(
    ([className, sqlite]) =>
      `(className = ${capnpString(className)}, uniqueKey = ${capnpString(`${s}-${className}`)}${sqlite ? ', enableSql = true' : ''})`,
  );
  const list = (/** @type {string[]} */ items, /** @type {string} */ indent) =>
    items.length === 0 ? '[]' : `[\n${items.map((i) => `${indent}  ${i},`).join('\n')}\n${indent}]`;

  const services = [
    `(name = ${capnpString(s)}, worker = .${s}Worker)`,
    `(name = "${s}-internet", network = (allow = ["public", "private", "local"]))`,
  ];
  if (classes.size > 0 || d1.length > 0) {
    services.push(
      `(name = "${s}-do-storage", disk = (path = ${capnpString(spec.storageDir ?? '')}, writable = true))`,
    );
  }
  const standIn = path
    .relative(configDir, path.join(path.dirname(new URL(import.meta.url).pathname), 'd1-local.worker.js'))
    .split(path.sep)
    .join('/');
  const d1Workers = d1.map(
    (d, i) => `
const ${s}D1Worker${i} :Workerd.Worker = (
  modules = [(name = "d1-local.worker.js", esModule = embed ${capnpString(standIn)})],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "DATABASE", durableObjectNamespace = "LocalD1"),
    (name = "MIGRATIONS", json = ${capnpString(JSON.stringify(d.migrations))}),
  ],
  durableObjectNamespaces = [(className = "LocalD1", uniqueKey = ${capnpString(`${s}-d1-${d.binding}`)}, enableSql = true)],
  durableObjectStorage = (localDisk = "${s}-do-storage"),
);
`,
  );
  d1.forEach((_, i) => {
    services.push(`(name = ${capnpString(d1Service(i))}, worker = .${s}D1Worker${i})`);
  });
  return `# Generated by scripts/lib/workerd-config.mjs; do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = ${list(services, '  ')},
  sockets = [
    (name = "${s}-http", address = "127.0.0.1:${spec.port}", http = (), service = ${capnpString(s)}),
  ],
);

const ${s}Worker :Workerd.Worker = (
  modules = ${list(modules, '  ')},
  compatibilityDate = ${capnpString(spec.compatibilityDate)},
  compatibilityFlags = ${list(spec.compatibilityFlags.map(capnpString), '  ')},
  bindings = ${list(bindings, '  ')},
  globalOutbound = "${s}-internet",${
    classes.size > 0
      ? `
  durableObjectNamespaces = ${list(namespaces, '  ')},
  durableObjectStorage = (localDisk = "${s}-do-storage"),`
      : ''
  }
);
${d1Workers.join('')}`;
}

/**
 * Splits wrangler `[vars]` into text and JSON bindings, as wrangler does.
 * @param {Record<string, unknown>} vars
 */
export function splitVars(vars) {
  /** @type {Record<string, string>} */
  const text = {};
  /** @type {Record<string, unknown>} */
  const json = {};
  for (const [k, v] of Object.entries(vars)) {
    if (typeof v === 'string') text[k] = v;
    else json[k] = v;
  }
  return { text, json };
}
