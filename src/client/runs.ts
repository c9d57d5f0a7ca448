import { EdgeError, type RunEvent, runFrames } from './events';

/** Options of {@link createRunClient}. */
export interface RunClientOptions {
  /** The gateway's origin (and base path, if any), e.g. `https://edge.example`. */
  baseUrl: string;
  /** The session token, or a function returning a fresh one for each request. */
  token: string | (() => string | Promise<string>);
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** How many times in a row a dropped stream is resumed before giving up (default 5). */
  maxRetries?: number;
  /** The first wait before resuming (ms, default 250); it doubles each time, up to 8 s. */
  retryDelayMs?: number;
}

const MAX_DELAY_MS = 8_000;

/**
 * Runs that survive the network: `start` starts a run (with an `Idempotency-Key`, so a
 * retried start never pays twice) and `resume` reads a known one; both yield each event
 * exactly once and, when the stream drops, come back by themselves with `Last-Event-ID`
 * (bounded, with backoff). A refusal (4xx but 429) is not retried: it is thrown as an
 * {@link EdgeError} (e.g. `410 RESUME_GONE`).
 *
 * ```ts
 * const runs = createRunClient({ baseUrl, token });
 * for await (const event of runs.start(threadId, 'Where is my order?')) show(event);
 * ```
 */
export function createRunClient(options: RunClientOptions) {
  const call = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  const headers = async (more: Record<string, string>) => ({
    ...more,
    Authorization: `Bearer ${typeof options.token === 'function' ? await options.token() : options.token}`,
  });
  const runPath = (threadId: string) => `${base}/v1/threads/${encodeURIComponent(threadId)}`;
  const eventsOf = async (threadId: string, runId: string, lastEventId: string | undefined) =>
    call(`${runPath(threadId)}/runs/${encodeURIComponent(runId)}/events`, {
      headers: await headers(lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId }),
    });

  return {
    /** Starts a run on `threadId` and yields its events to the end. */
    start(
      threadId: string,
      message: string,
      opts: { idempotencyKey?: string } = {},
    ): AsyncGenerator<RunEvent> {
      const key = opts.idempotencyKey ?? crypto.randomUUID();
      let runId: string | undefined;
      return follow(options, async (lastEventId) => {
        if (runId !== undefined) return eventsOf(threadId, runId, lastEventId);
        const res = await call(`${runPath(threadId)}/run`, {
          method: 'POST',
          headers: await headers({ 'Content-Type': 'application/json', 'Idempotency-Key': key }),
          body: JSON.stringify({ message }),
        });
        runId = res.headers.get('X-Run-Id') ?? undefined;
        return res;
      });
    },
    /** The events of run `runId` after `lastEventId` (all of them without one), to the end. */
    resume(threadId: string, runId: string, lastEventId?: string): AsyncGenerator<RunEvent> {
      return follow(options, (last) => eventsOf(threadId, runId, last ?? lastEventId));
    },
  };
}

/** The client {@link createRunClient} returns. */
export type RunClient = ReturnType<typeof createRunClient>;

/**
 * Reads a run through `open` (called again with the last event id seen whenever the
 * stream drops), yielding each event once, in order, to the final `done` or `error`.
 */
async function* follow(
  options: RunClientOptions,
  open: (lastEventId: string | undefined) => Promise<Response>,
): AsyncGenerator<RunEvent, void, undefined> {
  const maxRetries = options.maxRetries ?? 5;
  let delay = options.retryDelayMs ?? 250;
  let lastEventId: string | undefined;
  let lastSeen = 0;
  let failures = 0;
  for (;;) {
    try {
      for await (const { id, event } of runFrames(await open(lastEventId))) {
        const n = Number(id?.split(':').pop());
        if (Number.isInteger(n)) {
          if (n <= lastSeen) continue; // already yielded before the drop
          lastSeen = n;
          lastEventId = id;
        }
        failures = 0;
        delay = options.retryDelayMs ?? 250;
        yield event;
        if (event.type === 'done' || event.type === 'error') return;
      }
      return;
    } catch (error) {
      if (error instanceof EdgeError && error.status < 500 && error.status !== 429) throw error;
      failures += 1;
      if (failures > maxRetries) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(MAX_DELAY_MS, delay * 2);
    }
  }
}
