/**
 * The one place an upstream `fetch` happens: `redirect: 'manual'` and a clearable timeout.
 * Used by {@link UpstreamClient} (src/upstream/client.ts) and the TokenBroker's login.
 */

/** The outcome of one fetch: a response, or a failure that never reached one. */
export type SendResult =
  | {
      kind: 'response';
      res: Response;
      /** Whether the timeout fired (e.g. while the body was being read). */
      timedOut: () => boolean;
      /** Stops the timeout timer once the body is read or discarded. */
      release: () => void;
    }
  | { kind: 'timeout' }
  | { kind: 'network' };

/** How {@link sendUpstream} applies its timeout. */
export interface SendOptions {
  timeoutMs: number;
  /** The caller's signal: its abort is rethrown (as its reason), never turned into an error. */
  signal?: AbortSignal;
  /** `'response'`: the timeout also covers reading the body. `'headers'`: it stops at the headers. */
  timeoutCovers: 'response' | 'headers';
}

/**
 * One upstream fetch with `redirect: 'manual'` and a timeout. Resolves with the response or
 * a timeout/network outcome; rejects only when `options.signal` aborted (with its reason).
 * The fetch's signal is our own controller, aborted by the timer or by the caller's signal
 * (the equivalent of `AbortSignal.any([signal, AbortSignal.timeout(ms)])`, but with a timer
 * that can be cleared: at the headers for streams, once the body is read otherwise), so the
 * caller's signal keeps cancelling the body after the timer is gone.
 * The token broker uses this directly for login and project fetches.
 */
export async function sendUpstream(
  url: string,
  init: RequestInit,
  options: SendOptions,
): Promise<SendResult> {
  const { signal, timeoutMs } = options;
  signal?.throwIfAborted();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  // No custom abort reasons: workerd reports those as uncaught on the cancelled subrequest.
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: controller.signal });
    if (options.timeoutCovers === 'headers') clearTimeout(timer);
    return { kind: 'response', res, timedOut: () => timedOut, release: () => clearTimeout(timer) };
  } catch (err) {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) throw signal.reason ?? err;
    return timedOut ? { kind: 'timeout' } : { kind: 'network' };
  }
}
