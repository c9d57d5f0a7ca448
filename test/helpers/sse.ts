import { createParser } from 'eventsource-parser';
import { JsonObject, parseText } from './json';

/** One thing read off an SSE stream: an event, or a comment such as `: ping`. */
export type SseItem =
  | { kind: 'event'; id: string | undefined; event: string | undefined; data: Record<string, unknown> }
  | { kind: 'comment'; text: string };

/** Reads an SSE response item by item, the way a browser does, without waiting for the end. */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly queue: SseItem[] = [];
  private readonly parser = createParser({
    onEvent: (m) =>
      this.queue.push({ kind: 'event', id: m.id, event: m.event, data: parseText(m.data, JsonObject) }),
    onComment: (text) => this.queue.push({ kind: 'comment', text: text.trim() }),
  });
  /** Every raw chunk, the way it arrived. */
  readonly chunks: string[] = [];
  done = false;

  /** `response`: a `Response` or an `hc` `ClientResponse`. */
  constructor(response: { readonly body: ReadableStream<Uint8Array> | null }) {
    if (!response.body) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  /** The next item, or `undefined` once the stream has ended. */
  async next(): Promise<SseItem | undefined> {
    while (this.queue.length === 0 && !this.done) {
      const { done, value } = await this.reader.read();
      if (done) {
        this.done = true;
        break;
      }
      const text = this.decoder.decode(value, { stream: true });
      this.chunks.push(text);
      this.parser.feed(text);
    }
    return this.queue.shift();
  }

  /** The next event, skipping comments. */
  async nextEvent(): Promise<Extract<SseItem, { kind: 'event' }> | undefined> {
    for (;;) {
      const item = await this.next();
      if (!item || item.kind === 'event') return item;
    }
  }

  /** Everything left, to the end. */
  async rest(): Promise<SseItem[]> {
    const items: SseItem[] = [];
    for (let item = await this.next(); item; item = await this.next()) items.push(item);
    return items;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel();
  }
}

/** The events of `items` as `{ type, ...data }`, the way a frontend sees them. */
export const eventsOf = (items: SseItem[]): Record<string, unknown>[] =>
  items.flatMap((item) => (item.kind === 'event' ? [{ type: item.event, ...item.data }] : []));
