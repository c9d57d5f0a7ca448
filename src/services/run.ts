import { MAX_EVENT_BYTES } from '../config';
import { ApiError } from '../errors';
import type { RelayEvent } from '../stream/events';
import { type RelayOptions, relayEvents, relaySse } from '../stream/relay';
import { discard } from '../upstream/http';
import { admitted, type Gateway } from './gateway';

/**
 * Starts a run on the caller's thread and returns its events as the proxy relays
 * them. The route's admission already checked ownership and took a stream lease;
 * this hands the lease to the relay, which gives it back however the stream ends
 * (done, error, caller gone, exception). A 401 before the first byte is refreshed and
 * replayed once by the upstream client; after it, the stream ends with an error event.
 */
export function startRun(gw: Gateway, threadId: string, message: string): Promise<ReadableStream<RelayEvent>>;
/** The same, written out as SSE frames with a heartbeat every `pingMs`. */
export function startRun(
  gw: Gateway,
  threadId: string,
  message: string,
  sse: { pingMs: number },
): Promise<ReadableStream<Uint8Array>>;
export async function startRun(
  gw: Gateway,
  threadId: string,
  message: string,
  sse?: { pingMs: number },
): Promise<ReadableStream<RelayEvent> | ReadableStream<Uint8Array>> {
  const { lease } = admitted(gw);
  const upstreamAbort = new AbortController();
  const onCallerGone = () => upstreamAbort.abort(new DOMException('The caller went away.', 'AbortError'));
  gw.signal.addEventListener('abort', onCallerGone, { once: true });

  let res: Response;
  try {
    res = await gw.upstream.stream({
      method: 'POST',
      path: ['threads', threadId, 'run'],
      json: { message, stream: true },
      scope: `project:${gw.tenant.project_id}`,
      timeoutMs: gw.config.stream.firstByteTimeoutMs,
      signal: upstreamAbort.signal,
    });
  } catch (error) {
    gw.signal.removeEventListener('abort', onCallerGone);
    throw error;
  }
  if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
    gw.signal.removeEventListener('abort', onCallerGone);
    await discard(res);
    throw new ApiError(502, 'UPSTREAM_BAD_RESPONSE', 'The upstream did not answer with an event stream.');
  }

  if (lease) gw.claimed.add(lease);
  const options: RelayOptions = {
    policy: gw.tenant.tool_calls,
    idleTimeoutMs: gw.config.stream.idleTimeoutMs,
    maxDurationMs: gw.config.stream.maxDurationMs,
    maxEventBytes: MAX_EVENT_BYTES,
    requestId: gw.requestId,
    callerSignal: gw.signal,
    onEnd: () => {
      gw.signal.removeEventListener('abort', onCallerGone);
      upstreamAbort.abort(new DOMException('The run stream ended.', 'AbortError'));
      if (lease) gw.defer(gw.state.releaseLease(lease));
    },
  };
  return sse ? relaySse(res.body, options, sse.pingMs) : relayEvents(res.body, options);
}
