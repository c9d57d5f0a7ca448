// The Worker of bench/floor/relay-floor.mjs: one upstream SSE stream relayed to the caller
// in several ways (`?mode=`), to measure what each crossing adds per event:
//   bare        fetch, then `new Response(body)`: workerd pumps it natively
//   worker-its  the Worker reads the body and writes into an IdentityTransformStream
//   worker-pipe the body piped through a TransformStream (JS)
//   worker-js   the Worker reads the body and enqueues each chunk into a JS ReadableStream
//   do-native   a Durable Object fetches and returns the upstream body over RPC as is
//   do-js       the object reads the body and enqueues into a JS ReadableStream it returns
//   do-its      the object reads the body and writes into an IdentityTransformStream
//   do-fetch    as do-js, but the stream is the body of the object's fetch() Response
//   do-writable the Worker passes the writable side of an IdentityTransformStream to the object
//   do-pipe     as do-js, the body piped into a JS WritableStream (what relayInto does)
//   do-relay    the project's relayInto and formatEvent in the object (parse, events, frames)
//   do-js-wrap  as do-js, and the Worker reads it into another JS ReadableStream (a wrapper)
//   do-byob     as do-js, the body read with a BYOB reader into one reused buffer (what relayInto does)
//   do-bytes    as do-js, into a JS byte stream (`type: 'bytes'`)
import { DurableObject } from 'cloudflare:workers';
import { formatEvent, relayInto } from './relay-lib.js';

const enc = new TextEncoder();
const headers = { 'content-type': 'text/event-stream' };

function jsStream(body) {
  const reader = body.getReader();
  return new ReadableStream({
    async pull(c) {
      const next = await reader.read();
      if (next.done) c.close();
      else c.enqueue(next.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Pushes (not pulls) every chunk: what a run's object does with its callers. `byob`: the
 * body is read into one reused buffer (as relayInto does), each chunk copied out.
 */
function pushed(body, byob = false) {
  let controller;
  const out = new ReadableStream({
    start(c) {
      controller = c;
    },
  });
  const reader = byob ? body.getReader({ mode: 'byob' }) : body.getReader();
  let buffer = new ArrayBuffer(4096);
  (async () => {
    for (;;) {
      const next = byob ? await reader.read(new Uint8Array(buffer)) : await reader.read();
      if (next.done) return controller.close();
      if (!byob) controller.enqueue(next.value);
      else {
        buffer = next.value.buffer;
        controller.enqueue(next.value.slice());
      }
    }
  })().catch(() => undefined);
  return out;
}

async function written(body, writable) {
  const writer = writable.getWriter();
  const reader = body.getReader();
  for (;;) {
    const next = await reader.read();
    if (next.done) return writer.close();
    writer.write(next.value).catch(() => undefined);
  }
}

export class Relay extends DurableObject {
  async open(url, mode) {
    const res = await fetch(url);
    if (mode === 'do-native') return res.body;
    if (mode === 'do-byob') return pushed(res.body, true);
    if (mode === 'do-bytes') {
      let controller;
      const out = new ReadableStream({
        type: 'bytes',
        start(c) {
          controller = c;
        },
      });
      (async () => {
        const reader = res.body.getReader();
        for (;;) {
          const next = await reader.read();
          if (next.done) return controller.close();
          controller.enqueue(next.value);
        }
      })().catch(() => undefined);
      return out;
    }
    if (mode === 'do-pipe') {
      let controller;
      const out = new ReadableStream({
        start(c) {
          controller = c;
        },
      });
      res.body
        .pipeTo(
          new WritableStream({
            write: (chunk) => controller.enqueue(chunk),
            close: () => controller.close(),
          }),
        )
        .catch(() => undefined);
      return out;
    }
    if (mode === 'do-relay') {
      let controller;
      let n = 0;
      const out = new ReadableStream({
        start(c) {
          controller = c;
        },
      });
      const opts = {
        policy: 'full',
        idleTimeoutMs: 60000,
        maxDurationMs: 300000,
        maxEventBytes: 1 << 20,
        requestId: 'r',
        onEnd: () => {},
      };
      this.ctx.waitUntil(
        relayInto(res.body, opts, (event) => {
          controller.enqueue(enc.encode(formatEvent(`run_x:${++n}`, event)));
          if (event.type === 'done' || event.type === 'error') controller.close();
          return undefined;
        }).catch(() => undefined),
      );
      return out;
    }
    if (mode === 'do-its') {
      const pipe = new IdentityTransformStream();
      written(res.body, pipe.writable).catch(() => undefined);
      return pipe.readable;
    }
    return pushed(res.body);
  }
  async into(url, writable) {
    const res = await fetch(url);
    this.ctx.waitUntil(written(res.body, writable).catch(() => undefined));
  }
  async fetch(req) {
    const res = await fetch(new URL(req.url).searchParams.get('u'));
    return new Response(pushed(res.body), { headers });
  }
}

export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    if (url.pathname === '/') return new Response('ok');
    const mode = url.searchParams.get('mode');
    const upstream = url.searchParams.get('u');
    if (mode === 'bare') return new Response((await fetch(upstream)).body, { headers });
    if (mode === 'worker-js') return new Response(pushed((await fetch(upstream)).body), { headers });
    if (mode === 'worker-its') {
      const pipe = new IdentityTransformStream();
      ctx.waitUntil(written((await fetch(upstream)).body, pipe.writable).catch(() => undefined));
      return new Response(pipe.readable, { headers });
    }
    if (mode === 'worker-pipe') {
      const pipe = new TransformStream();
      (await fetch(upstream)).body.pipeTo(pipe.writable).catch(() => undefined);
      return new Response(pipe.readable, { headers });
    }
    const stub = env.RELAY.getByName(url.searchParams.get('obj') ?? 'one');
    if (mode === 'do-fetch') return stub.fetch(req);
    if (mode === 'do-writable') {
      const pipe = new IdentityTransformStream();
      await stub.into(upstream, pipe.writable);
      return new Response(pipe.readable, { headers });
    }
    const stream = await stub.open(upstream, mode === 'do-js-wrap' ? 'do-js' : mode);
    return new Response(mode === 'do-js-wrap' ? jsStream(stream) : stream, { headers });
  },
};
