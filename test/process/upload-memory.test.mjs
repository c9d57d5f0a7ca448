// Issue 12, item 5: an upload must not be held in the isolate's memory. `files.max_bytes`
// may be 100 MiB and an isolate has 128 MB, so the Worker streams the multipart body to
// the upstream instead of buffering it (formData(), then a copy for the outbound form).
// Measured from outside: the resident memory of the `workerd serve` process, sampled
// every few milliseconds while uploads are in flight, against its level just before.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { describe, startStack, tenantConfig } from './harness.mjs';

const TENANT = 'uploads';
const MiB = 1024 * 1024;
const FILE_BYTES = 32 * MiB;
const CONCURRENT = 4;

/** @type {import('./harness.mjs').Stack} */
let stack;

before(async () => {
  stack = await startStack({
    name: 'upload-memory',
    tenants: {
      [TENANT]: tenantConfig({
        files: { max_bytes: 64 * MiB, types: ['text/plain'] },
        limits: { files_per_user: 1000 },
      }),
    },
    // Uploads of 32 MiB on a loaded 2-core machine: time is not what is measured here.
    vars: { BODY_TIMEOUT_MS: '30000', UPSTREAM_TIMEOUT_MS: '30000' },
  });
});

after(() => stack?.stop());

/** workerd's resident set (bytes), from /proc. */
function rss() {
  const status = readFileSync(`/proc/${stack.workerPid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error('no VmRSS in /proc status');
  return Number(kb) * 1024;
}

/**
 * Runs `work` while sampling workerd's RSS; resolves to its result and the peak growth
 * over the level just before it started.
 * @template T @param {() => Promise<T>} work
 */
async function peakGrowth(work) {
  const base = rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 5);
  try {
    const result = await work();
    peak = Math.max(peak, rss());
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

/** One upload as `user` of `bytes` bytes of text; `chunked` sends no Content-Length. */
async function upload(user, bytes, { chunked = false } = {}) {
  const headers = await stack.authHeaders([TENANT, user]);
  const content = new Uint8Array(bytes).fill(0x61);
  /** @type {RequestInit & { duplex?: 'half' }} */
  let init;
  if (chunked) {
    const boundary = `----process-test-${user}`;
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`;
    const parts = [
      new TextEncoder().encode(head),
      content,
      new TextEncoder().encode(`\r\n--${boundary}--\r\n`),
    ];
    const body = new ReadableStream({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        // 64 KiB at a time, the way a socket delivers it.
        else for (let i = 0; i < next.byteLength; i += 65536) controller.enqueue(next.subarray(i, i + 65536));
      },
    });
    init = {
      method: 'POST',
      headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
      duplex: 'half',
    };
  } else {
    const form = new FormData();
    form.append('file', new Blob([content], { type: 'text/plain' }), 'big.txt');
    init = { method: 'POST', headers, body: form };
  }
  const res = await fetch(`${stack.url}/v1/files`, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, text, json: res.status === 201 ? JSON.parse(text) : undefined };
}

const mib = (/** @type {number} */ bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

test(`${CONCURRENT} concurrent uploads of ${mib(FILE_BYTES)} grow workerd's memory by less than the data in flight`, async () => {
  // Warm up: the isolate, the tenant's object, the upstream token.
  const warm = await upload('warmup', 1024);
  assert.equal(warm.status, 201, describe(warm));

  const one = await peakGrowth(() => upload('single', FILE_BYTES));
  assert.equal(one.result.status, 201, describe(one.result));
  assert.equal(one.result.json.size, FILE_BYTES);

  const many = await peakGrowth(() =>
    Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => upload(`user-${i}`, FILE_BYTES, { chunked: i % 2 === 1 })),
    ),
  );
  for (const res of many.result) {
    assert.equal(res.status, 201, describe(res));
    assert.equal(res.json.size, FILE_BYTES);
  }
  console.log(
    `workerd RSS growth: one upload of ${mib(FILE_BYTES)}: ${mib(one.growth)}; ` +
      `${CONCURRENT} concurrent (${mib(CONCURRENT * FILE_BYTES)} in flight): ${mib(many.growth)}`,
  );
  // Buffered (formData(), then a copy for the upstream), one upload of 32 MiB grew workerd
  // by 259 MiB and these 4 by 594 MiB. Streamed, what remains is the chunks already sent
  // and not yet collected, which V8 frees at its own pace and which does not grow with the
  // file or the number of uploads (README, "Uploads").
  assert.ok(one.growth < 4 * FILE_BYTES, `one upload grew workerd by ${mib(one.growth)}`);
  assert.ok(
    many.growth < CONCURRENT * FILE_BYTES,
    `${CONCURRENT} uploads (${mib(CONCURRENT * FILE_BYTES)}) grew workerd by ${mib(many.growth)}`,
  );
});
