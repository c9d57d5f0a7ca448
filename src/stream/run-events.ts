import { createParser } from 'eventsource-parser';
import { type RelayEvent, RelayEventSchema } from './events';

/**
 * A run's SSE frames read back into its events (for callers that are not an SSE
 * client: `"stream": false`, webhooks, the chat protocol). Comments (pings) are skipped.
 * `signal` (the caller's request) detaches the caller from the run when it fires.
 */
export function relayEventsOf(
  frames: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): ReadableStream<RelayEvent> {
  return frames.pipeThrough(relayEventsPair(), signal ? { signal } : {});
}

/** The transform behind {@link relayEventsOf}: SSE frames in, run events out. */
export function relayEventsPair(): TransformStream<Uint8Array, RelayEvent> {
  let emit: (event: RelayEvent) => void = () => undefined;
  const parser = createParser({
    onEvent(message) {
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      const parsed = RelayEventSchema.safeParse(
        data && typeof data === 'object' ? { ...data, type: message.event } : data,
      );
      if (parsed.success) emit(parsed.data);
    },
  });
  const decoder = new TextDecoder();
  return new TransformStream<Uint8Array, RelayEvent>({
    start(controller) {
      emit = (event) => controller.enqueue(event);
    },
    transform(chunk) {
      parser.feed(decoder.decode(chunk, { stream: true }));
    },
  });
}
