// The Worker of bench/floor/object-floor.mjs: a run-shaped stream (a ping, then `n` events
// `ms` apart, 12 and 1000 by default) produced by the Worker itself (`?mode=worker`), by a
// Durable Object of its own per stream (`?mode=do`, `?mode=sql`: the same, after a table and
// a few rows), or by one object shared by every stream (`?mode=shared`); or fetched from an
// SSE upstream by one of 16 shared objects and returned over RPC as is (`fetchnative`), or
// read there in JavaScript into a stream it returns (`fetchbyob`, `fetchdefault`): a run's
// object without the parsing, the policy and the log.
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

/** The upstream's body read in JS (a BYOB reader into one reused buffer, or a default reader) into a JS stream. */
function relayed(body, byob) {
  let controller;
  const out = new ReadableStream({
    start(c) {
      controller = c;
    },
  });
  (async () => {
    if (byob) {
      const reader = body.getReader({ mode: 'byob' });
      let buffer = new ArrayBuffer(4096);
      for (;;) {
        const next = await reader.read(new Uint8Array(buffer));
        if (next.done) return controller.close();
        buffer = next.value.buffer;
        controller.enqueue(next.value.slice());
      }
    }
    const reader = body.getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) return controller.close();
      controller.enqueue(next.value);
    }
  })().catch(() => undefined);
  return out;
}

export class Floor extends DurableObject {
  /** `how`: `native` (the fetch body over RPC as is), `byob` or `default` (read in JS, see `relayed`). */
  async relay(url, how) {
    const res = await fetch(url);
    return how === 'native' ? res.body : relayed(res.body, how === 'byob');
  }

  async open(sql, writes, n = 12, ms = 1000) {
    if (sql) {
      this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY, b TEXT)');
      for (let i = 0; i < writes; i++) {
        this.ctx.storage.sql.exec('INSERT OR REPLACE INTO t VALUES (?, ?)', String(i), 'x'.repeat(40));
      }
    }
    return ticking(n, ms);
  }
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === '/') return new Response('ok');
    const mode = url.searchParams.get('mode');
    const headers = { 'content-type': 'text/event-stream' };
    const n = Number(url.searchParams.get('n') ?? 12);
    const ms = Number(url.searchParams.get('ms') ?? 1000);
    if (mode === 'worker') return new Response(ticking(n, ms), { headers });
    if (mode.startsWith('fetch')) {
      // 16 objects share the streams, as a tenant's runs share 16 runs objects.
      const stub = env.FLOOR.getByName(`relay${Number(url.pathname.slice(2)) % 16}`);
      const upstream = `${env.UPSTREAM}/?n=${n}&ms=${ms}`;
      return new Response(await stub.relay(upstream, mode.slice(5)), { headers });
    }
    const stub = env.FLOOR.getByName(mode === 'shared' ? 'shared' : url.pathname);
    return new Response(await stub.open(mode === 'sql', Number(url.searchParams.get('writes') ?? 0), n, ms), {
      headers,
    });
  },
};
