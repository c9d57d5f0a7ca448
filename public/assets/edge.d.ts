// Types of edge.js, for the tests that import it (not served: see public/.assetsignore).

export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

export interface SseParser {
  feed(chunk: string): void;
  end(): void;
}

export interface GatewayError {
  status: number;
  code: string;
  detail: string;
  request_id: string;
  field: string | undefined;
  retry_after: string | null;
}

export interface RateLimitEntry {
  name: string;
  remaining: number | undefined;
  reset: number | undefined;
  quota: number | undefined;
  window: number | undefined;
}

export function takeToken(): { token: string; offered: string | null };
export function describeToken(token: string): string;
export function rememberToken(token: string): void;
export function tokenClaims(token: string): Record<string, unknown> | null;
export function createSseParser(handlers: {
  onEvent: (event: SseEvent) => void;
  onComment?: (text: string) => void;
}): SseParser;
export function sseEvents(response: Response): AsyncGenerator<SseEvent, void, undefined>;
export function readError(response: Response): Promise<GatewayError>;
export function parseRateLimit(rateLimit: string | null, policy: string | null): RateLimitEntry[];
