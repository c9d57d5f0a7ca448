import type { Hono } from 'hono';
import { z } from 'zod';
import type { EmuEnv } from './http';

/** One request a callback sink received. */
export interface ReceivedCallback {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The status the sink answered with. */
  status: number;
  received_at: string;
}

interface Sink {
  received: ReceivedCallback[];
  /** Path → statuses still to answer, in order (then 200). */
  statuses: Map<string, number[]>;
}

/** Sinks by host: each host is its own universe, like everywhere in the emulator. */
const sinks = new Map<string, Sink>();

function sink(host: string): Sink {
  let found = sinks.get(host);
  if (!found) {
    found = { received: [], statuses: new Map() };
    sinks.set(host, found);
  }
  return found;
}

const knobSchema = z.strictObject({
  path: z.string().startsWith('/__callbacks/'),
  statuses: z.array(z.number().int().min(200).max(599)),
});

/**
 * A stand-in for a webhook sender's callback receiver: `POST /__callbacks/*` records the
 * request (headers and body) and answers with the next status queued for its path (200
 * once none is left). `POST /__emulator/callbacks {path, statuses}` queues statuses;
 * `GET /__emulator/callbacks?path=` lists what arrived (all paths without `path`).
 * Register before the control routes (their catch-all would answer first).
 */
export function registerCallbackRoutes(app: Hono<EmuEnv>): void {
  app.post('/__callbacks/*', async (c) => {
    const url = new URL(c.req.url);
    const target = sink(url.host);
    const status = target.statuses.get(url.pathname)?.shift() ?? 200;
    target.received.push({
      path: url.pathname,
      headers: Object.fromEntries(c.req.raw.headers),
      body: await c.req.text(),
      status,
      received_at: new Date().toISOString(),
    });
    return new Response(JSON.stringify({ received: status < 300 }), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  });

  app.post('/__emulator/callbacks', async (c) => {
    const parsed = knobSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ error: 'Bad Request', issues: parsed.error.issues }, 400);
    sink(new URL(c.req.url).host).statuses.set(parsed.data.path, [...parsed.data.statuses]);
    return c.json({ ok: true });
  });

  app.get('/__emulator/callbacks', (c) => {
    const path = c.req.query('path');
    const received = sink(new URL(c.req.url).host).received;
    return c.json({ callbacks: path ? received.filter((r) => r.path === path) : received });
  });
}
