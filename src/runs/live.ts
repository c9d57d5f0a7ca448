import type { UpstreamClient } from '../upstream/client';
import { LogBatch } from './batch';
import type { Connection } from './connection';
import type { RunLog, RunRow } from './log';
import type { StartRun } from './schema';

/** A run this object is reading from the upstream now. */
export interface LiveRun {
  row: RunRow;
  input: StartRun;
  connections: Set<Connection>;
  /** Aborts the upstream fetch (end, cancel, detach). */
  abort: AbortController;
  /** Cancels the run once nobody came back within the detach grace. */
  grace: number | null;
  finished: boolean;
  /** Events relayed and not yet written to the log. */
  batch: LogBatch;
  /** Its upstream calls so far, for the metering at its end, and whether they may have spent. */
  upstream: Pick<UpstreamClient, 'upstreamCalls' | 'mayHaveSpent'>;
}

/** A run just recorded, before its upstream is asked: nobody attached, nothing relayed. */
export function liveRun(row: RunRow, input: StartRun, log: RunLog): LiveRun {
  return {
    row,
    input,
    connections: new Set(),
    abort: new AbortController(),
    grace: null,
    finished: false,
    batch: new LogBatch((events) => log.append(row, events)),
    upstream: { upstreamCalls: 0, mayHaveSpent: true },
  };
}
