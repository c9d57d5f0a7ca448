// Self-test of the capnp generator against a throwaway wrangler.toml with what the real
// one will grow: a SQLite Durable Object, a KV-backed one, a queue producer and a KV
// namespace. Run: `node bench/selftest.mjs` (uses no network; ~10 s).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, installCleanup, killAll } from '../scripts/lib/procs.mjs';
import { bundleWorker, serveWorker } from '../scripts/lib/worker.mjs';
import { collectModules, readWorkerDecl, splitVars } from '../scripts/lib/workerd-config.mjs';

const dir = path.resolve('.tmp/bench/selftest');
rmSync(dir, { recursive: true, force: true });
mkdirSync(path.join(dir, 'src'), { recursive: true });

writeFileSync(
  path.join(dir, 'wrangler.toml'),
  `name = "selftest"
main = "src/index.js"
compatibility_date = "2026-11-01"
compatibility_flags = ["nodejs_compat", "enable_request_signal"]

[vars]
GREETING = "hello \\"quoted\\" world"
LIMITS = { max = 3 }

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "COUNTER_AGAIN"
class_name = "Counter"

[[durable_objects.bindings]]
name = "LEGACY"
class_name = "Legacy"

[[migrations]]
tag = "v1"
new_classes = ["Legacy"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["Counter"]

[[queues.producers]]
binding = "JOBS"
queue = "selftest-jobs"

[[kv_namespaces]]
binding = "CACHE"
id = "0123456789abcdef0123456789abcdef"
`,
);

writeFileSync(
  path.join(dir, 'src/index.js'),
  `import { DurableObject } from 'cloudflare:workers';
import { Buffer } from 'node:buffer';
import hello from './hello.txt';
export class Counter extends DurableObject {
  async bump() {
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS c (n INTEGER)');
    this.ctx.storage.sql.exec('INSERT INTO c VALUES (1)');
    return this.ctx.storage.sql.exec('SELECT count(*) AS n FROM c').one().n;
  }
}
export class Legacy extends DurableObject {
  async bump() {
    const n = ((await this.ctx.storage.get('n')) ?? 0) + 1;
    await this.ctx.storage.put('n', n);
    return n;
  }
}
export default {
  async fetch(request, env) {
    const counter = env.COUNTER.get(env.COUNTER.idFromName('a'));
    const legacy = env.LEGACY.get(env.LEGACY.idFromName('a'));
    return Response.json({
      sql: await counter.bump(),
      again: await env.COUNTER_AGAIN.get(env.COUNTER_AGAIN.idFromName('a')).bump(),
      kv: await legacy.bump(),
      greeting: env.GREETING,
      limits: env.LIMITS,
      queue: typeof env.JOBS,
      node: Buffer.from('ok').toString('base64'),
      signal: request.signal instanceof AbortSignal,
      text: hello.trim(),
    });
  },
};
`,
);

writeFileSync(path.join(dir, 'src/hello.txt'), 'hello from an additional module\n');

installCleanup();
try {
  const decl = await readWorkerDecl(path.join(dir, 'wrangler.toml'));
  assert.deepEqual(
    decl.durableObjects.map((d) => [d.binding, d.className, d.sqlite]),
    [
      ['COUNTER', 'Counter', true],
      ['COUNTER_AGAIN', 'Counter', true],
      ['LEGACY', 'Legacy', false],
    ],
  );
  assert.ok(decl.notes.some((n) => n.includes('queue producer JOBS')));
  assert.ok(decl.notes.some((n) => n.includes('kv_namespaces')));
  for (const note of decl.notes) console.log(`note: ${note}`);

  const outdir = path.join(dir, 'out');
  await bundleWorker(path.join(dir, 'wrangler.toml'), outdir);
  const modules = collectModules(outdir, decl.main);
  console.log(`modules: ${modules.map((m) => `${m.name} (${m.type})`).join(', ')}`);
  assert.ok(modules.length === 2 && modules[0]?.name === 'index.js' && modules[1]?.type === 'text');
  const { text, json } = splitVars(decl.vars);
  const server = await serveWorker(
    {
      service: 'selftest',
      port: await freePort(),
      modules,
      compatibilityDate: decl.compatibilityDate,
      compatibilityFlags: decl.compatibilityFlags,
      text,
      json,
      durableObjects: decl.durableObjects,
      storageDir: path.join(dir, 'do-storage'),
    },
    dir,
    { probePath: '/probe' },
  );
  const res = await fetch(`${server.url}/`);
  const body = await res.json();
  console.log(res.status, JSON.stringify(body));
  assert.equal(res.status, 200);
  // The probe bumped each object once already; COUNTER and COUNTER_AGAIN share a class and a name.
  assert.deepEqual(body, {
    sql: 3,
    again: 4,
    kv: 2,
    greeting: 'hello "quoted" world',
    limits: { max: 3 },
    queue: 'undefined',
    node: 'b2s=',
    signal: true,
    text: 'hello from an additional module',
  });
  await server.stop();
  console.log('selftest: ok');
} finally {
  killAll();
}
