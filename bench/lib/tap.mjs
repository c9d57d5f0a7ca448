// A TCP tap in front of the emulator: it forwards bytes both ways unchanged and notes
// when each upstream SSE event (`data: ` line) passed through on its way to the caller.
// With the caller's arrival times taken in the same process and clock, arrival − tap
// time is what everything after the upstream adds to each event (the relay, for the
// proxy). The emulator keys its state by Host, so the tap is a universe of its own.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const MARK = Buffer.from('data: ');

/**
 * @param {number} upstreamPort the emulator's port on 127.0.0.1
 * @returns {Promise<{ url: string, marks: number[], reset: () => void, close: () => Promise<void> }>}
 *   `marks`: performance.now() of each `data: ` line forwarded since the last reset.
 */
export function startTap(upstreamPort) {
  /** @type {number[]} */
  const marks = [];
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk) => {
      const at = performance.now();
      client.write(chunk);
      for (let i = chunk.indexOf(MARK); i >= 0; i = chunk.indexOf(MARK, i + MARK.length)) marks.push(at);
    });
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        marks,
        reset: () => {
          marks.length = 0;
        },
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
