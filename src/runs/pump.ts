import { MAX_EVENT_BYTES } from '../config';
import { errorName, log } from '../log';
import { type RelayEvent, runError } from '../stream/events';
import { relayInto } from '../stream/relay';
import type { LiveRun } from './live';
import type { RunConfig } from './schema';
import type { RunBody } from './upstream';

/**
 * Reads the upstream's events into the run, to the end, each through `emit` (the run's
 * object logs and fans it out); a relay that stopped without a final event ends the run
 * `UPSTREAM_FAILED`. Never throws.
 */
export async function pumpRun(
  live: LiveRun,
  body: RunBody,
  config: RunConfig,
  emit: (event: RelayEvent) => Promise<void>,
): Promise<void> {
  try {
    await relayInto(
      body,
      {
        policy: live.input.tenant.tool_calls,
        idleTimeoutMs: config.stream.idleTimeoutMs,
        maxDurationMs: config.stream.maxDurationMs,
        maxEventBytes: MAX_EVENT_BYTES,
        requestId: live.input.requestId,
        onEnd: () => live.abort.abort(new DOMException('The run ended.', 'AbortError')),
        signal: live.abort.signal,
      },
      emit,
    );
  } catch (error) {
    log('warn', 'run pump failed', { run_id: live.row.run_id, error: errorName(error) });
  }
  if (!live.finished) await emit(runError('UPSTREAM_FAILED'));
}
