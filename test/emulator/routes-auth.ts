import type { Hono } from 'hono';
import { z } from 'zod';
import type { EmuEnv } from './http';
import { errorJson, parseJson, requireAccount } from './http';
import { issueToken, tokenFields } from './jwt';
import { nextId } from './state';
import type { Account } from './types';

const credentials = z.object({ email: z.string().min(1), password: z.string().min(1) });
const signupSchema = z.object({ email: z.string().regex(/^[^@\s]+@[^@\s]+$/), password: z.string().min(8) });
const checkoutSchema = z.object({
  quantity: z.number().int().positive(),
  amount: z.number().positive().optional(),
});

function invalidCredentials(): Record<string, string> {
  return { error: 'Invalid credentials', detail: 'Email or password is incorrect' };
}

function threadInfo(a: Account): Record<string, unknown> {
  return {
    email: a.email,
    user_id: a.user_id,
    thread_counter: a.thread_counter,
    thread_max: a.thread_max,
    subscription_tier: a.subscription_tier,
  };
}

export function registerAuthRoutes(app: Hono<EmuEnv>): void {
  app.post('/auth/signup', async (c) => {
    const u = c.var.u;
    const parsed = await parseJson(c, signupSchema);
    if (!parsed.ok) return parsed.response;
    const { email, password } = parsed.data;
    if (u.accounts.has(email)) {
      return errorJson(c, 409, 'Conflict', 'An account with this email already exists', { field: 'email' });
    }
    const account: Account = {
      email,
      password,
      user_id: nextId(u, 'usr'),
      subscription_tier: 'free',
      thread_counter: 0,
      thread_max: 100,
    };
    u.accounts.set(email, account);
    const token = await issueToken(u, account.user_id, 'account');
    return c.json({
      ...tokenFields(u, token),
      token_type: 'Bearer',
      expires_in: u.knobs.token_ttl_seconds,
      user: { email, user_id: account.user_id },
    });
  });

  app.post('/auth/login', async (c) => {
    const u = c.var.u;
    const parsed = await parseJson(c, credentials);
    if (!parsed.ok) {
      u.stats.login_failures += 1;
      return parsed.response;
    }
    const account = u.accounts.get(parsed.data.email);
    if (u.knobs.reject_logins || !account || account.password !== parsed.data.password) {
      u.stats.login_failures += 1;
      return c.json(invalidCredentials(), 401);
    }
    const token = await issueToken(u, account.user_id, 'account');
    u.stats.logins += 1;
    return c.json({ ...tokenFields(u, token), expires_in: u.knobs.token_ttl_seconds });
  });

  app.get('/auth/thread-info', requireAccount, (c) => c.json(threadInfo(c.var.account)));

  app.get('/credits/balance', requireAccount, (c) => {
    const a = c.var.account;
    return c.json({
      thread_counter: a.thread_counter,
      thread_max: a.thread_max,
      threads_remaining: Math.max(0, a.thread_max - a.thread_counter),
      subscription_tier: a.subscription_tier,
    });
  });

  app.post('/credits/checkout', requireAccount, async (c) => {
    const parsed = await parseJson(c, checkoutSchema);
    if (!parsed.ok) return parsed.response;
    const sessionId = nextId(c.var.u, 'cs_emulator');
    return c.json({ url: `https://checkout.stripe.com/c/pay/${sessionId}`, session_id: sessionId });
  });
}
