// Preloaded (`node --import`) into tools that must work offline (the OpenAPI linter): any
// network use fails at once and is written to $NO_NETWORK_LOG, which the caller checks, so
// a tool that phones home (telemetry, update checks) fails the run instead of leaking.
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

const logFile = process.env.NO_NETWORK_LOG;

function refuse(what) {
  if (logFile) appendFileSync(logFile, `${what}\n`);
  return new Error(`network access is disabled here (${what})`);
}

net.Socket.prototype.connect = function connect(...args) {
  // net.connect() passes its normalized arguments as an array: [options, callback].
  const target = Array.isArray(args[0]) ? args[0][0] : args[0];
  const where =
    typeof target === 'object' && target !== null
      ? `${target.host ?? ''}:${target.port ?? target.path ?? ''}`
      : String(target);
  const error = refuse(`socket connect ${where}`);
  process.nextTick(() => this.destroy(error));
  return this;
};
globalThis.fetch = async (input) => {
  throw refuse(`fetch ${typeof input === 'string' ? input : (input?.url ?? String(input))}`);
};
syncBuiltinESMExports();
