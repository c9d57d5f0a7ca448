/** Structured log lines: one JSON object per line. Callers pass only safe fields. */
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>;

export function log(level: 'info' | 'warn' | 'error', msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/** An error's class name for a log line: never its message, which may carry upstream text. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}
