import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

/**
 * A request body must arrive within `BODY_TIMEOUT_MS`: a body that trickles in is cut
 * off and the request answered `408 REQUEST_TIMEOUT`. Admission runs only after the body
 * is read and validated, so a slow body never holds a stream slot, a reservation or a
 * permit; this bounds what it holds of the Worker too. A body whose connection breaks
 * off before its end (the caller hung up) is `400 BAD_REQUEST`, never a 500.
 *
 * Every route that reads a body (session, webhook and admin routes) runs this before its
 * body cap, so one mechanism decides how long any body may take. It takes the body's
 * reader at once: a body the route then refuses unread (a declared length over its cap)
 * is answered at once, not first drained (`wrangler dev` drains an untouched body before
 * it sends the answer, and a stalled one never ends).
 */
export function bodyDeadline() {
  return createMiddleware<AppEnv>(async function bodyDeadline(c, next) {
    const body = c.req.raw.body;
    if (!body) return next();
    let timer: number | null = null;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), c.get('config').bodyTimeoutMs);
    });
    // Why the body did not arrive, once it did not. The stream errors with this ApiError,
    // so a reader that passes the error on (a webhook's raw read, the body cap) answers
    // with it directly; one that turns it into its own 400 (a JSON validator) is
    // overruled below.
    const failed: { error?: ApiError } = {};
    // A consumer that stops reading (an upload refused on its head) cancels the body; a read
    // still pending then fails, and that is no fault of the caller's.
    let cancelled = false;
    const reader = body.getReader();
    const timed = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let read: ReadableStreamReadResult<Uint8Array> | 'expired';
        try {
          read = await Promise.race([reader.read(), expired]);
        } catch {
          if (cancelled) return;
          // The connection broke mid-body: the caller (or a proxy before it) hung up.
          failed.error = new ApiError('BAD_REQUEST', 'The request body ended before it was complete.');
          controller.error(failed.error);
          return;
        }
        if (read === 'expired') {
          failed.error = new ApiError('REQUEST_TIMEOUT', 'The request body did not arrive in time.');
          await reader.cancel().catch(() => undefined);
          controller.error(failed.error);
        } else if (read.done) controller.close();
        else controller.enqueue(read.value);
      },
      cancel: (reason) => {
        cancelled = true;
        return reader.cancel(reason);
      },
    });
    c.req.raw = new Request(c.req.raw, { body: timed });
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
    if (failed.error) throw failed.error;
  });
}
