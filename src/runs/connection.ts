import { formatEvent, type RelayEvent } from '../stream/events';
import { eventId, type LoggedEvent } from './schema';

const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');

/**
 * One caller attached to a run: a byte stream of SSE frames (`id: <run_id>:<n>`), fed by
 * the run's object, with a `: ping` whenever `pingMs` pass without a frame. It closes
 * after the run's final event; the caller going away (the Worker cancelling the stream
 * it got over RPC) calls `onLeave`.
 */
export class Connection {
  readonly stream: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #timer: number | null = null;
  #lastSent = Date.now();
  #closed = false;
  readonly #runId: string;
  readonly #pingMs: number;
  readonly #after: number;

  /** `after`: the caller's resume point; events up to it are not sent again (a live run's included). */
  constructor(runId: string, pingMs: number, onLeave: (connection: Connection) => void, after = 0) {
    this.#runId = runId;
    this.#pingMs = pingMs;
    this.#after = after;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        // A first byte at once: the caller's headers go out and the stream is flowing, so a
        // caller who hangs up before any event is noticed (the cancel reaches this object).
        if (pingMs > 0) {
          this.#write(PING);
          this.#arm(pingMs);
        }
      },
      cancel: () => {
        this.#stop();
        onLeave(this);
      },
    });
  }

  /** Sends one event; the final one (`done` or `error`) closes the stream after it. */
  send({ n, event }: LoggedEvent): void {
    if (this.#closed) return;
    if (n > this.#after) this.#write(encoder.encode(formatEvent(eventId(this.#runId, n), event)));
    if (isFinal(event)) this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#stop();
    try {
      this.#controller?.close();
    } catch {
      // Already cancelled by the caller.
    }
  }

  #write(chunk: Uint8Array): void {
    try {
      this.#controller?.enqueue(chunk);
      this.#lastSent = Date.now();
    } catch {
      this.#stop();
    }
  }

  /** One timer per connection, armed for the earliest moment a ping could be due. */
  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      if (this.#closed) return;
      const wait = this.#lastSent + this.#pingMs - Date.now();
      if (wait <= 0) this.#write(PING);
      this.#arm(wait > 0 ? wait : this.#pingMs);
    }, ms);
  }

  #stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

export const isFinal = (event: RelayEvent) => event.type === 'done' || event.type === 'error';
