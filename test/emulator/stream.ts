import { sleep } from './http';
import type { LineEnding, StreamKnobs, ToolCall, Universe } from './types';

export type RunEvent =
  | { type: 'start'; run_id: string }
  | { type: 'content'; delta: string }
  | { type: 'tool_call'; name: string; args: Record<string, unknown> }
  | { type: 'done' };

const EOL: Record<LineEnding, string> = { lf: '\n', crlf: '\r\n', cr: '\r' };

/** Splits reply text into word-ish deltas: `Echo: hi there` → `Echo:`, ` hi`, ` there`. */
export function wordDeltas(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? (text ? [text] : []);
}

export function runEvents(runId: string, reply: string, toolCalls: ToolCall[]): RunEvent[] {
  return [
    { type: 'start', run_id: runId },
    ...wordDeltas(reply).map((delta): RunEvent => ({ type: 'content', delta })),
    ...toolCalls.map((t): RunEvent => ({ type: 'tool_call', name: t.name, args: t.args })),
    { type: 'done' },
  ];
}

/** One SSE block per element. With `extras` the stream carries every oddity a robust relay must survive. */
export function sseBlocks(events: RunEvent[], knobs: StreamKnobs): string[] {
  const e = EOL[knobs.line_ending];
  const data = (json: string) => `data: ${json}${e}${e}`;
  if (!knobs.extras) return events.map((ev) => data(JSON.stringify(ev)));
  const blocks: string[] = [`: emulator comment, ignore me${e}${e}`];
  let splitDone = false;
  let outputChars = 0;
  for (const ev of events) {
    const json = JSON.stringify(ev);
    if (ev.type === 'start') {
      blocks.push(`event: message${e}${data(json)}`);
    } else if (ev.type === 'content' && !splitDone) {
      splitDone = true;
      outputChars += ev.delta.length;
      const cut = json.indexOf(',') + 1;
      blocks.push(`data: ${json.slice(0, cut)}${e}${data(json.slice(cut))}`);
    } else if (ev.type === 'done') {
      const usage = {
        type: 'usage',
        input_tokens: 12,
        output_tokens: Math.max(1, Math.ceil(outputChars / 4)),
      };
      blocks.push(data(JSON.stringify(usage)), data(json), data('[DONE]'));
    } else {
      if (ev.type === 'content') outputChars += ev.delta.length;
      blocks.push(data(json));
    }
  }
  return blocks;
}

/**
 * Byte chunks of one block, split mid-`data:`, inside a multi-byte character (or mid-JSON) and
 * between the first and second character of the terminating line ends.
 */
export function splitBlock(bytes: Uint8Array): Uint8Array[] {
  const cuts = new Set<number>([2]);
  const mb = bytes.findIndex((b, i) => i > 2 && b >= 0xc0);
  cuts.add(mb > 0 ? mb + 1 : Math.floor(bytes.length / 2));
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end -= 1;
  cuts.add(end + 1);
  const sorted = [...cuts].filter((n) => n > 0 && n < bytes.length).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of sorted) {
    if (cut > from) chunks.push(bytes.slice(from, cut));
    from = cut;
  }
  chunks.push(bytes.slice(from));
  return chunks;
}

export interface StreamPlan {
  /** What gets written: SSE blocks, or the `raw` strings verbatim. */
  blocks: string[];
  knobs: StreamKnobs;
  /** The request's abort signal, also watched for cancellation. */
  signal: AbortSignal | undefined;
}

/**
 * The streaming response, once `delay_headers_ms` passed. Counts opened / completed /
 * cancelled / failed in the universe's stats.
 */
export async function sseResponse(u: Universe, plan: StreamPlan): Promise<Response> {
  const { blocks, knobs } = plan;
  const stats = u.stats;
  const encoder = new TextEncoder();
  let finished = false;
  const finish = (what: 'streams_completed' | 'streams_cancelled' | 'streams_failed') => {
    if (finished) return;
    finished = true;
    stats[what] += 1;
  };
  stats.streams_opened += 1;
  plan.signal?.addEventListener('abort', () => finish('streams_cancelled'));
  if (knobs.delay_headers_ms > 0) await sleepUnlessAborted(knobs.delay_headers_ms, plan.signal);
  // Aborted before its headers: the caller is gone, whatever this answers.
  if (finished) return new Response(null, { status: 499 });

  const run = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (knobs.stall_before_first_byte_ms > 0) await sleep(knobs.stall_before_first_byte_ms);
    for (const [i, block] of blocks.entries()) {
      if (finished) return;
      if (knobs.fail_after_events !== null && i >= knobs.fail_after_events) {
        finish('streams_failed');
        // Erroring a stream discards its queue: let the events already written reach the client first.
        while ((controller.desiredSize ?? 1) <= 0) await sleep(1);
        await sleep(5);
        if (knobs.fail_mode === 'error') controller.error(new Error('emulator: injected stream failure'));
        else controller.close();
        return;
      }
      if (i > 0 && knobs.pace_ms > 0) await sleep(knobs.pace_ms);
      const bytes = encoder.encode(block);
      const chunks = knobs.split_chunks && !knobs.raw ? splitBlock(bytes) : [bytes];
      for (const [j, chunk] of chunks.entries()) {
        if (j > 0) await sleep(1);
        if (finished) return;
        controller.enqueue(chunk);
      }
    }
    if (finished) return;
    finish('streams_completed');
    controller.close();
  };

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      run(controller).catch(() => finish('streams_cancelled'));
    },
    cancel() {
      finish('streams_cancelled');
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    },
  });
}

/** Waits `ms`, or less if `signal` fires first. */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
