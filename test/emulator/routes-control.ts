import type { Hono } from 'hono';
import { z } from 'zod';
import { CANARY_EMAIL } from './canaries';
import type { EmuEnv } from './http';
import { revokeAll } from './jwt';
import { knobsPatchSchema, mergeKnobs } from './knobs';
import { resetUniverse } from './state';

/** Test-only adjustments of an account (e.g. to reach `thread_max` without 1000 requests). */
const accountPatchSchema = z.strictObject({
  email: z.string().optional(),
  thread_counter: z.number().int().nonnegative().optional(),
  thread_max: z.number().int().nonnegative().optional(),
  subscription_tier: z.string().optional(),
});

/**
 * Sets the current rate window: `remaining` requests left in it (at most the limit), ending
 * `reset_in_s` from now. A test that needs a budget can then not straddle a minute's end.
 */
const ratePatchSchema = z.strictObject({
  remaining: z.number().int().nonnegative(),
  reset_in_s: z.number().int().min(1).max(3600).default(60),
});

async function jsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The control API: never rate limited, never counted, never delayed. */
export function registerControlRoutes(app: Hono<EmuEnv>): void {
  app.get('/__emulator/config', (c) => c.json(c.var.u.knobs));

  app.post('/__emulator/config', async (c) => {
    const parsed = knobsPatchSchema.safeParse(await jsonBody(c.req.raw));
    if (!parsed.success) {
      return c.json({ error: 'Bad Request', detail: 'Invalid knobs', issues: parsed.error.issues }, 400);
    }
    return c.json(mergeKnobs(c.var.u.knobs, parsed.data));
  });

  app.post('/__emulator/reset', (c) => {
    resetUniverse(c.var.u);
    return c.json({ ok: true, host: c.var.u.host });
  });

  app.post('/__emulator/revoke-tokens', (c) => c.json({ ok: true, revoked: revokeAll(c.var.u) }));

  app.get('/__emulator/stats', (c) => c.json(c.var.u.stats));

  app.post('/__emulator/account', async (c) => {
    const parsed = accountPatchSchema.safeParse(await jsonBody(c.req.raw));
    if (!parsed.success) {
      return c.json(
        { error: 'Bad Request', detail: 'Invalid account patch', issues: parsed.error.issues },
        400,
      );
    }
    const { email = CANARY_EMAIL, ...patch } = parsed.data;
    const account = c.var.u.accounts.get(email);
    if (!account) return c.json({ error: 'Not Found', detail: `No account ${email}` }, 404);
    Object.assign(account, patch);
    const { password: _password, ...view } = account;
    return c.json(view);
  });

  app.post('/__emulator/rate', async (c) => {
    const parsed = ratePatchSchema.safeParse(await jsonBody(c.req.raw));
    const limit = c.var.u.knobs.rate_limit_per_minute;
    if (!parsed.success || parsed.data.remaining > limit) {
      const issues = parsed.success
        ? [{ message: `remaining is above the limit ${limit}` }]
        : parsed.error.issues;
      return c.json({ error: 'Bad Request', detail: 'Invalid rate window', issues }, 400);
    }
    // Whole seconds, as X-RateLimit-Reset states it.
    const windowEnd = Math.ceil((Date.now() + parsed.data.reset_in_s * 1000) / 1000) * 1000;
    c.var.u.rate = { windowEnd, count: limit - parsed.data.remaining };
    return c.json({ limit, remaining: parsed.data.remaining, reset: windowEnd / 1000 });
  });

  app.all('/__emulator/*', (c) => c.json({ error: 'Not Found', detail: 'Unknown control endpoint' }, 404));
}
