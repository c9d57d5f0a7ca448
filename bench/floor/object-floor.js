// The Worker of bench/floor/object-floor.mjs: a run-shaped stream (a ping, then 12 events a
// second apart) produced by the Worker itself (`?mode=worker`), by a Durable Object of its
// own per stream (`?mode=do`, `?mode=sql`: the same, after a table and a few rows), or by
// one object shared by every stream (`?mode=shared`).
import { DurableObject } from 'cloudflare:workers';

const enc = new TextEncoder();

function ticking(n, ms) {
  let i = 0;
  let timer;
  return new ReadableStream({
    start(c) {
      c.enqueue(enc.encode(': ping\n\n'));
      const tick = () => {
        if (i++ >= n) return c.close();
        c.enqueue(enc.encode(`event: content\ndata: {"delta":"word${i}"}\n\n`));
        timer = setTimeout(tick, ms);
      };
      timer = setTimeout(tick, ms);
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

export class Floor extends DurableObject {
  async open(sql, writes) {
    if (sql) {
      this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY, b TEXT)');
      for (let i = 0; i < writes; i++) {
        this.ctx.storage.sql.exec('INSERT OR REPLACE INTO t VALUES (?, ?)', String(i), 'x'.repeat(40));
      }
    }
    return ticking(12, 1000);
  }
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === '/') return new Response('ok');
    const mode = url.searchParams.get('mode');
    const headers = { 'content-type': 'text/event-stream' };
    if (mode === 'worker') return new Response(ticking(12, 1000), { headers });
    const stub = env.FLOOR.getByName(mode === 'shared' ? 'shared' : url.pathname);
    return new Response(await stub.open(mode === 'sql', Number(url.searchParams.get('writes') ?? 0)), {
      headers,
    });
  },
};
