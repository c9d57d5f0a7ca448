// A small client of workerd's V8 inspector (Chrome DevTools protocol over a WebSocket)
// for bench/profile.mjs: CPU profiles and heap snapshots, and their summaries.
import { readFileSync } from 'node:fs';

export class Inspector {
  /** @param {WebSocket} ws */
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.pending = new Map();
    /** @type {((method: string, params: any) => void) | null} */
    this.onEvent = null;
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message}`));
        else p?.resolve(msg.result);
      } else this.onEvent?.(msg.method, msg.params);
    });
  }

  /** Connects to the inspector of `service` on 127.0.0.1:`port`. */
  static async connect(/** @type {number} */ port, /** @type {string} */ service) {
    let url = `ws://127.0.0.1:${port}/${service}`;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(3000) });
      const list = /** @type {{ webSocketDebuggerUrl?: string, title?: string }[]} */ (await res.json());
      const entry = list.find((e) => e.title === service) ?? list[0];
      if (entry?.webSocketDebuggerUrl) url = entry.webSocketDebuggerUrl;
    } catch {
      // Older inspectors list nothing: the service's path is the target.
    }
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', () => reject(new Error(`inspector: cannot connect to ${url}`)), {
        once: true,
      });
    });
    return new Inspector(ws);
  }

  /** @param {string} method @param {Record<string, unknown>} [params] @returns {Promise<any>} */
  send(method, params = {}) {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /**
   * A heap snapshot after a full GC: its text and its shallow size by constructor.
   * @returns {Promise<{ text: string, nodes: Map<string, { count: number, size: number }>, total: number }>}
   */
  async heapSnapshot() {
    await this.send('HeapProfiler.enable');
    await this.send('HeapProfiler.collectGarbage');
    /** @type {string[]} */
    const chunks = [];
    this.onEvent = (method, params) => {
      if (method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(params.chunk);
    };
    await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.onEvent = null;
    const text = chunks.join('');
    return { text, ...byConstructor(JSON.parse(text)) };
  }

  close() {
    this.ws.close();
  }
}

/** @param {any} snapshot */
function byConstructor(snapshot) {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const width = fields.length;
  /** @type {Map<string, { count: number, size: number }>} */
  const nodes = new Map();
  let total = 0;
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + iType]];
    const name = snapshot.strings[snapshot.nodes[i + iName]];
    const size = snapshot.nodes[i + iSize];
    const key = type === 'object' || type === 'native' ? name : `(${type})`;
    const entry = nodes.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += size;
    nodes.set(key, entry);
    total += size;
  }
  return { nodes, total };
}

/**
 * What grew between two snapshots, by constructor, per open run.
 * @param {Map<string, { count: number, size: number }>} before
 * @param {Map<string, { count: number, size: number }>} after
 * @param {{ top: number, per: number }} o
 */
export function heapSummary(before, after, o) {
  const rows = [...after].map(([name, a]) => {
    const b = before.get(name) ?? { count: 0, size: 0 };
    return { name, count: (a.count - b.count) / o.per, size: (a.size - b.size) / o.per };
  });
  rows.sort((x, y) => y.size - x.size);
  return [
    '| constructor | objects per run | bytes per run |',
    '|:--|--:|--:|',
    ...rows
      .slice(0, o.top)
      .map((r) => `| ${r.name.slice(0, 60)} | ${r.count.toFixed(1)} | ${r.size.toFixed(0)} |`),
  ].join('\n');
}

/**
 * The modules of a wrangler bundle by line: esbuild writes `// src/...` or
 * `// node_modules/...` before each module's code.
 * @param {string} file
 */
function moduleLines(file) {
  /** @type {{ line: number, module: string }[]} */
  const starts = [];
  try {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, line) => {
        const m = /^\/\/ (?:\.\.\/[\w.-]+\/)?((?:src|node_modules|test)\/\S+)$/.exec(text);
        if (m?.[1])
          starts.push({ line, module: m[1].replace(/^node_modules\//, '').replace(/\/dist\/.*$/, '') });
      });
  } catch {}
  return (/** @type {number} */ line) => {
    let found = '(runtime)';
    for (const s of starts) {
      if (s.line > line) break;
      found = s.module;
    }
    return found;
  };
}

/**
 * Self time by function and by module, in µs per `per` (events or runs).
 * @param {any} profile a Profiler.stop profile
 * @param {{ top: number, per: number, perLabel: string, bundle?: string }} o
 */
export function profileSummary(profile, o) {
  /** @type {Map<number, any>} */
  const byId = new Map(profile.nodes.map((/** @type {any} */ n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const self = new Map();
  profile.samples.forEach((/** @type {number} */ id, /** @type {number} */ i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const moduleOf = o.bundle ? moduleLines(o.bundle) : () => '';
  /** @type {Map<string, number>} */
  const fns = new Map();
  /** @type {Map<string, number>} */
  const modules = new Map();
  let busy = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)?.callFrame ?? {};
    const name = f.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    busy += us;
    const where = f.url ? `${moduleOf(f.lineNumber) || f.url.split('/').pop()}:${f.lineNumber + 1}` : '';
    const key = `${name}${where ? ` ${where}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const mod = f.url ? moduleOf(f.lineNumber) || f.url : name;
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const table = (/** @type {Map<string, number>} */ m, /** @type {string} */ head) =>
    [
      `| ${head} | µs per ${o.perLabel} | share of busy |`,
      '|:--|--:|--:|',
      ...[...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, o.top)
        .map(([k, us]) => `| ${k} | ${(us / o.per).toFixed(1)} | ${((100 * us) / busy).toFixed(1)} % |`),
    ].join('\n');
  return [
    `busy (not idle) ${(busy / 1000).toFixed(0)} ms = ${(busy / o.per).toFixed(1)} µs per ${o.perLabel}`,
    '',
    table(fns, 'function (self time)'),
    '',
    table(modules, 'module (self time)'),
  ].join('\n');
}
