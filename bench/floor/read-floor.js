// The Worker of bench/floor/read-floor.mjs: `GET /threads/{id}` answered in front of the
// emulator in several ways (`?m=`), to measure what each layer of the proxy's read path
// costs in throughput, next to the bare pass-through:
//   bare   fetch, then `new Response(r.body, r)` (bench/passthrough.js)
//   js     fetch, read the body, JSON.parse, answer a rebuilt object as JSON
//   log    js, and one structured console.log line (the proxy's access log)
//   hono   js, routed by a plain Hono app
//   stack  the proxy's framework without its gateway: OpenAPIHono, hono/request-id,
//          hono/secure-headers (the proxy's options), three middlewares of its shape (an
//          access-log timer, a config lookup, Cache-Control), the path validated with zod,
//          the upstream body parsed with a zod schema
//   full   stack, and the access log line
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';

const json = { 'content-type': 'application/json' };
const Thread = z.looseObject({
  thread_id: z.string(),
  name: z.string().nullish(),
  created_at: z.string().optional(),
});
const view = (o) => ({ id: o.thread_id, name: o.name ?? null, created_at: o.created_at });
const upstream = (env, id, auth) =>
  fetch(`${env.UPSTREAM}/threads/${id}`, { headers: { authorization: auth } });
const accessLine = () =>
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'request',
      request_id: crypto.randomUUID(),
      status: 200,
      duration_ms: 1,
    }),
  );

const hono = new Hono();
hono.get('/threads/:id', async (c) => {
  const r = await upstream(c.env, c.req.param('id'), c.req.header('authorization'));
  return c.json(view(JSON.parse(await r.text())));
});

function stack(log) {
  const app = new OpenAPIHono();
  app.use(requestId({ limitLength: 128 }));
  app.use(
    createMiddleware(async (c, next) => {
      const started = Date.now();
      await next();
      if (log) accessLine(c.res.status, Date.now() - started);
    }),
  );
  app.use(
    secureHeaders({
      crossOriginResourcePolicy: 'cross-origin',
      crossOriginOpenerPolicy: false,
      xFrameOptions: 'DENY',
    }),
  );
  app.use(
    createMiddleware(async (c, next) => {
      c.set('config', c.env);
      await next();
    }),
  );
  app.use(
    createMiddleware(async (c, next) => {
      await next();
      if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
    }),
  );
  const route = createRoute({
    method: 'get',
    path: '/threads/{id}',
    request: { params: z.object({ id: z.string().min(1).max(128) }) },
    responses: {
      200: {
        description: 'a thread',
        content: { 'application/json': { schema: z.object({ id: z.string() }) } },
      },
    },
  });
  app.openapi(route, async (c) => {
    const r = await upstream(c.env, c.req.valid('param').id, c.req.header('authorization'));
    return c.json(view(Thread.parse(JSON.parse(await r.text()))), 200);
  });
  return app;
}
const bare = stack(false);
const full = stack(true);

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const mode = url.searchParams.get('m');
    if (mode === 'bare') {
      const r = await fetch(env.UPSTREAM + url.pathname, request);
      return new Response(r.body, r);
    }
    if (mode === 'js' || mode === 'log') {
      const r = await upstream(env, url.pathname.split('/')[2], request.headers.get('authorization'));
      const body = JSON.stringify(view(JSON.parse(await r.text())));
      if (mode === 'log') accessLine();
      return new Response(body, { headers: json });
    }
    if (mode === 'hono') return hono.fetch(request, env, ctx);
    return (mode === 'full' ? full : bare).fetch(request, env, ctx);
  },
};
