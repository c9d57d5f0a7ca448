import { serve } from '@hono/node-server';
import { createEmulator } from './app';

export interface RunningEmulator {
  url: string;
  close(): Promise<void>;
}

/** The bits of node:http's Server used here (the project has no Node type declarations). */
interface NodeServer {
  close(callback: (err?: Error) => void): void;
  closeAllConnections?: () => void;
  once(event: 'error', listener: (err: Error) => void): void;
}

interface NodeProcess {
  argv: string[];
  exitCode?: number;
}

/** Starts the emulator in a Node HTTP server (for `npm start` and benchmarks). Port 0 = any free port. */
export function startEmulator(options: { port?: number; hostname?: string } = {}): Promise<RunningEmulator> {
  const { port = 8788, hostname = '127.0.0.1' } = options;
  const app = createEmulator();
  return new Promise((resolve, reject) => {
    const server: NodeServer = serve({ fetch: app.fetch, port, hostname }, (info: { port: number }) => {
      resolve({
        url: `http://${hostname}:${info.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Node's `process` (this project is typed for the Workers runtime, which has none). */
function isNodeProcess(value: unknown): value is NodeProcess {
  return (
    typeof value === 'object' &&
    value !== null &&
    'argv' in value &&
    Array.isArray(value.argv) &&
    value.argv.every((arg) => typeof arg === 'string')
  );
}

const maybeProcess: unknown = Reflect.get(globalThis, 'process');
const proc = isNodeProcess(maybeProcess) ? maybeProcess : undefined;
const args = proc?.argv ?? [];
if (args.includes('--serve') || /emulator-server\.mjs$/.test(args[1] ?? '')) {
  const port = Number(flag(args, '--port') ?? 8788);
  const hostname = flag(args, '--host') ?? '127.0.0.1';
  startEmulator({ port, hostname }).then(
    ({ url }) => console.log(`emulator listening on ${url}`),
    (err: unknown) => {
      console.error('emulator failed to start:', err);
      if (proc) proc.exitCode = 1;
    },
  );
}
