import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

/**
 * A request body must arrive within `BODY_TIMEOUT_MS`: a body that trickles in is cut
 * off and the request answered `408 REQUEST_TIMEOUT`. Admission runs only after the body
 * is read and validated, so a slow body never holds a stream slot, a reservation or a
 * permit; this bounds what it holds of the Worker too.
 */
export function bodyDeadline() {
  return createMiddleware<AppEnv>(async function bodyDeadline(c, next) {
    const body = c.req.raw.body;
    if (!body) return next();
    let timer: number | null = null;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), c.get('config').bodyTimeoutMs);
    });
    let timedOut = false;
    const reader = body.getReader();
    const timed = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const read = await Promise.race([reader.read(), expired]);
        if (read === 'expired') {
          timedOut = true;
          await reader.cancel().catch(() => undefined);
          controller.error(new DOMException('The request body did not arrive in time.', 'TimeoutError'));
        } else if (read.done) controller.close();
        else controller.enqueue(read.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    c.req.raw = new Request(c.req.raw, { body: timed });
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
    if (timedOut) throw new ApiError('REQUEST_TIMEOUT', 'The request body did not arrive in time.');
  });
}
