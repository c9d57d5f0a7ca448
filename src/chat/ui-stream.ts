import type { JsonValue } from '../json';
import { type RelayEvent, runError } from '../stream/events';

/**
 * The headers of the Vercel AI SDK's UI message stream (its `UI_MESSAGE_STREAM_HEADERS`,
 * less `connection`, which a Worker does not set): `DefaultChatTransport` and
 * assistant-ui read a body with these as the protocol's version 1.
 */
export const UI_MESSAGE_STREAM_HEADERS = {
  'content-type': 'text/event-stream',
  'x-vercel-ai-ui-message-stream': 'v1',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/**
 * The chunks of the UI message stream the gateway sends: a subset of the SDK's
 * `UIMessageChunk` (its `uiMessageChunkSchema` validates each in the tests). Tool calls
 * are `dynamic` (the frontend has no schema for the assistant's tools) and
 * `providerExecuted` (the upstream ran them: a frontend must not try to answer them).
 */
export type UiChunk =
  | { type: 'start'; messageId: string }
  | { type: 'start-step' }
  | { type: 'text-start'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'text-end'; id: string }
  | {
      type: 'tool-input-available';
      toolCallId: string;
      toolName: string;
      input: JsonValue;
      dynamic: true;
      providerExecuted: true;
    }
  | { type: 'finish-step' }
  | { type: 'finish'; finishReason: 'stop' }
  | { type: 'error'; errorText: string };

export interface UiStreamOptions {
  /** A `: ping` comment after this long without a frame. */
  pingMs: number;
  /** The message id when the run's `start` carries no run id. */
  fallbackMessageId: string;
}

const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');
const DONE = encoder.encode('data: [DONE]\n\n');

/** One frame. `JSON.stringify` escapes every line break: no value can end the `data:` line. */
const frame = (chunk: UiChunk): Uint8Array => encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`);

/**
 * The mapping of one run's events to UI message chunks, as a pure state machine (the
 * stream below only frames what it returns): `start` opens the message and its step,
 * a run of `content` is one text part, a `tool_call` closes the open text part and is
 * one tool part, `done` closes the step and the message, `error` ends the message with
 * the contract's code and fixed detail as `errorText` (nothing of the upstream's).
 */
export class UiMessageMapper {
  #messageId: string;
  #open: string | null = null;
  #parts = 0;
  #ended = false;

  constructor(fallbackMessageId: string) {
    this.#messageId = fallbackMessageId;
  }

  /** Whether the run's final `done` or `error` has been mapped. */
  get ended(): boolean {
    return this.#ended;
  }

  map(event: RelayEvent): UiChunk[] {
    if (this.#ended) return [];
    switch (event.type) {
      case 'start':
        if (event.run_id) this.#messageId = event.run_id;
        return [{ type: 'start', messageId: this.#messageId }, { type: 'start-step' }];
      case 'content': {
        if (this.#open !== null) return [{ type: 'text-delta', id: this.#open, delta: event.delta }];
        const id = this.#nextId('text');
        this.#open = id;
        return [
          { type: 'text-start', id },
          { type: 'text-delta', id, delta: event.delta },
        ];
      }
      case 'tool_call':
        return [
          ...this.#closeText(),
          {
            type: 'tool-input-available',
            toolCallId: this.#nextId('tool'),
            toolName: event.name,
            // The relay already cut the call to the tenant's policy: no `args` is "name only".
            input: 'args' in event && event.args !== undefined && event.args !== null ? event.args : {},
            dynamic: true,
            providerExecuted: true,
          },
        ];
      case 'done':
        this.#ended = true;
        return [...this.#closeText(), { type: 'finish-step' }, { type: 'finish', finishReason: 'stop' }];
      case 'error':
        this.#ended = true;
        return [...this.#closeText(), { type: 'error', errorText: `${event.code}: ${event.detail}` }];
    }
  }

  #closeText(): UiChunk[] {
    if (this.#open === null) return [];
    const id = this.#open;
    this.#open = null;
    return [{ type: 'text-end', id }];
  }

  /** Part ids unique within the chat: the run's id is the message's. */
  #nextId(kind: 'text' | 'tool'): string {
    this.#parts += 1;
    return `${this.#messageId}_${kind}_${this.#parts}`;
  }
}

/**
 * A run's events as the UI message stream's bytes: `data: <chunk>` frames, `data: [DONE]`
 * after the final `done` or `error`, and a `: ping` comment whenever `pingMs` pass
 * without a frame (the SDK's parser skips comments). Piped, not pumped: the caller
 * cancelling the body cancels the run's event stream, hence the upstream.
 */
export function uiMessageStream(options: UiStreamOptions): TransformStream<RelayEvent, Uint8Array> {
  const mapper = new UiMessageMapper(options.fallbackMessageId);
  let controller: TransformStreamDefaultController<Uint8Array> | undefined;
  let lastSent = Date.now();
  let timer: number | null = null;
  let closed = false;

  const send = (bytes: Uint8Array) => {
    controller?.enqueue(bytes);
    lastSent = Date.now();
  };
  const stop = () => {
    closed = true;
    clearTimeout(timer);
  };
  // One timer that re-arms itself for the remainder, not one per frame.
  const heartbeat = () => {
    if (closed) return;
    const wait = lastSent + options.pingMs - Date.now();
    if (wait <= 0) {
      try {
        send(PING);
      } catch {
        return stop(); // the caller is gone; the pipe's cancellation ends the run
      }
    }
    timer = setTimeout(heartbeat, wait > 0 ? wait : options.pingMs);
  };
  const end = () => {
    if (closed) return;
    stop();
    send(DONE);
    controller?.terminate();
  };

  return new TransformStream<RelayEvent, Uint8Array>({
    start(c) {
      controller = c;
      timer = setTimeout(heartbeat, options.pingMs);
    },
    transform(event) {
      if (closed) return;
      for (const chunk of mapper.map(event)) send(frame(chunk));
      if (mapper.ended) end();
    },
    flush() {
      // The relay always ends with `done` or `error`; should it not, the run did not finish.
      if (!closed && !mapper.ended)
        for (const chunk of mapper.map(runError('UPSTREAM_FAILED'))) send(frame(chunk));
      end();
    },
    cancel() {
      stop(); // the caller left: no more pings
    },
  });
}
