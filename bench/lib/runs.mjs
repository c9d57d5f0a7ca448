// What the stream sections share: the emulator's knobs, and the same streamed run
// addressed three ways (the emulator directly, the bare pass-through, the proxy).

/**
 * Merges `patch` into the knobs of the emulator universe at `url` (one per Host).
 * @param {string} url @param {Record<string, unknown>} patch
 */
export async function setKnobs(url, patch) {
  const res = await fetch(`${url}/__emulator/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`emulator config: HTTP ${res.status} ${await res.text()}`);
}

/** The emulator's counters (streams_opened, streams_completed, ...). */
export async function emulatorStats(/** @type {string} */ url) {
  const res = await fetch(`${url}/__emulator/stats`, { signal: AbortSignal.timeout(5000) });
  return /** @type {Record<string, number>} */ (await res.json());
}

/** `n` words of about five letters: the reply the emulator streams, one word per event. */
export const words = (/** @type {number} */ n) =>
  Array.from({ length: n }, (_, i) => `word${String(i).padStart(2, '0')}`).join(' ');

/**
 * Creates a thread through the proxy (so that it belongs to the session's user).
 * @param {string} proxyUrl @param {string} jwt
 * @returns {Promise<string>} the thread id
 */
export async function proxyThread(proxyUrl, jwt) {
  const res = await fetch(`${proxyUrl}/v1/threads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench stream thread' }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let id;
  try {
    id = JSON.parse(text).thread_id;
  } catch {}
  if (res.status !== 201 || typeof id !== 'string') {
    throw new Error(`POST /v1/threads through the proxy answered ${res.status}: ${text.slice(0, 200)}`);
  }
  return id;
}

/**
 * Creates `n` threads through the proxy, `concurrency` at a time: one per run that is to
 * be open at once (a thread has at most one running run; a second is 409 RUN_IN_PROGRESS).
 * @param {string} proxyUrl @param {string} jwt @param {number} n @param {number} [concurrency]
 * @returns {Promise<string[]>} the thread ids
 */
export async function proxyThreads(proxyUrl, jwt, n, concurrency = 8) {
  /** @type {string[]} */
  const ids = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) ids[i] = await proxyThread(proxyUrl, jwt);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return ids;
}

/**
 * The proxy target of `runTargets` on another thread of the same user.
 * @param {RunTarget} proxy @param {string} proxyUrl @param {string} threadId
 * @returns {RunTarget}
 */
export const onThread = (proxy, proxyUrl, threadId) => ({
  ...proxy,
  url: `${proxyUrl}/v1/threads/${threadId}/run`,
});

/**
 * @typedef {{ name: string, url: string, headers: Record<string, string>, body: string }} RunTarget
 *   one streamed run, ready for streamRun (POST)
 */

/**
 * The same streamed run three ways: `emulator direct` (project token), `bare
 * pass-through` (the same request through bench/passthrough.js) and `proxy` (session
 * JWT, the proxy's thread).
 * @param {{ emulator: string, bare: string, proxy: string, projectToken: string,
 *   threadId: string, proxyThreadId: string, jwt: string, message?: string }} o
 * @returns {RunTarget[]}
 */
export function runTargets(o) {
  const body = JSON.stringify({ message: o.message ?? 'bench', stream: true });
  const json = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const upstream = { ...json, authorization: `Bearer ${o.projectToken}` };
  return [
    { name: 'emulator direct', url: `${o.emulator}/threads/${o.threadId}/run`, headers: upstream, body },
    { name: 'bare pass-through', url: `${o.bare}/threads/${o.threadId}/run`, headers: upstream, body },
    {
      name: 'proxy',
      url: `${o.proxy}/v1/threads/${o.proxyThreadId}/run`,
      headers: { ...json, authorization: `Bearer ${o.jwt}` },
      body,
    },
  ];
}
