// The /demo chat page: a session token from the URL fragment or a paste box, an
// allow-listed assistant, a thread, and a run whose reply streams in token by token.
// fetch() + a stream reader rather than EventSource, which cannot send Authorization.
import { errorView, fill, h, offerToken, submitOnEnter } from '../assets/dom.js';
import {
  describeToken,
  parseRateLimit,
  readError,
  rememberToken,
  sseEvents,
  takeToken,
  tokenClaims,
} from '../assets/edge.js';
import { limitsView, usageView } from './limits.js';

const $ = (id) => document.getElementById(id);
const taken = takeToken();
const state = { token: taken.token, threadId: null, controller: null, run: null };

/** A non-2xx answer, carrying the gateway's error body. */
class GatewayError extends Error {
  constructor(info) {
    super(info.detail);
    this.info = info;
  }
}

async function api(method, path, { json, signal, headers: extra = {} } = {}) {
  const headers = { ...extra, Authorization: `Bearer ${state.token}` };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const body = json === undefined ? undefined : JSON.stringify(json);
  const response = await fetch(path, { method, headers, body, signal });
  const limits = parseRateLimit(response.headers.get('RateLimit'), response.headers.get('RateLimit-Policy'));
  if (limits.length) fill($('ratelimit'), limitsView(limits));
  if (!response.ok) throw new GatewayError(await readError(response));
  return response;
}

function showError(error, title) {
  const info =
    error instanceof GatewayError
      ? error.info
      : {
          status: 0,
          code: error.name === 'AbortError' ? 'ABORTED' : 'NETWORK_ERROR',
          detail: String(error.message),
        };
  $('errors').append(errorView(info, title));
  $('errors').lastElementChild?.scrollIntoView({ block: 'nearest' });
}

const clearErrors = () => fill($('errors'));

function setReady(ready) {
  for (const id of ['assistant', 'new-thread', 'message', 'send']) $(id).disabled = !ready;
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('new-thread').disabled = busy;
  $('assistant').disabled = busy;
  $('stop').disabled = !busy;
}

async function applyToken() {
  setReady(false);
  if (!state.token) {
    fill($('who'), 'No session token yet: paste one to start.');
    $('token-panel').open = true;
    $('token').focus();
    return;
  }
  const claims = tokenClaims(state.token);
  const expires =
    typeof claims?.exp === 'number' ? new Date(claims.exp * 1000).toLocaleTimeString() : 'unknown';
  fill(
    $('who'),
    claims
      ? `Tenant ${claims.tenant} · user ${claims.sub} · token expires ${expires}`
      : 'Token set (not a readable JWT).',
  );
  clearErrors();
  if (await loadAssistants()) await refreshUsage();
}

async function loadAssistants() {
  try {
    const { assistants } = await (await api('GET', '/v1/assistants')).json();
    fill(
      $('assistant'),
      ...assistants.map((a) => h('option', { value: a.assistant_id }, `${a.name} (${a.assistant_id})`)),
    );
    setReady(assistants.length > 0);
    if (!assistants.length)
      fill($('log'), h('li', { class: 'hint muted' }, 'This tenant has no assistants.'));
    return true;
  } catch (error) {
    fill($('assistant'), h('option', {}, 'Unavailable'));
    showError(error, 'Could not list assistants');
    return false;
  }
}

async function refreshUsage() {
  try {
    fill($('usage'), usageView(await (await api('GET', '/v1/usage')).json()));
  } catch (error) {
    showError(error, 'Could not read usage');
  }
}

async function newThread() {
  const response = await api('POST', '/v1/threads', { json: { assistant_id: $('assistant').value } });
  const thread = await response.json();
  state.threadId = thread.thread_id;
  fill($('thread-id'), thread.thread_id);
  fill($('log'));
}

function addMessage(role, text) {
  const body = h('div', { class: 'text' }, text);
  const item = h(
    'li',
    { class: `msg msg-${role}` },
    h('span', { class: 'who' }, role === 'user' ? 'You' : 'Assistant'),
    body,
  );
  $('log').append(item);
  item.scrollIntoView({ block: 'end' });
  return { item, body };
}

/** Renders whatever tool calls the tenant's `tool_calls` policy lets through. */
function toolCallView({ name, args }) {
  return h(
    'div',
    { class: 'tool-call' },
    h('span', { class: 'tool-label' }, 'Tool call'),
    ' ',
    h('code', {}, name),
    args === undefined ? null : h('pre', {}, JSON.stringify(args, null, 2)),
  );
}

async function send(message) {
  clearErrors();
  setBusy(true);
  let reply = null;
  try {
    if (!state.threadId) await newThread();
    addMessage('user', message);
    reply = addMessage('assistant', '');
    reply.item.setAttribute('aria-busy', 'true');
    state.controller = new AbortController();
    const { signal } = state.controller;
    const thread = `/v1/threads/${encodeURIComponent(state.threadId)}`;
    // The run outlives this connection: a dropped stream is resumed with Last-Event-ID,
    // and the Idempotency-Key makes a retried start attach instead of paying twice.
    const start = { json: { message }, signal, headers: { 'Idempotency-Key': crypto.randomUUID() } };
    let response = await api('POST', `${thread}/run`, start);
    const runId = response.headers.get('X-Run-Id');
    state.run = runId ? `${thread}/runs/${encodeURIComponent(runId)}` : null;
    let text = null; // the text node the next delta goes into (a tool call starts a new one)
    let lastId = null;
    let finished = false;
    for (let failures = 0, wait = 500; !finished; ) {
      try {
        if (!response) throw new TypeError('Offline.');
        for await (const frame of sseEvents(response)) {
          if (frame.id) lastId = frame.id;
          failures = 0;
          reply.item.classList.remove('reconnecting');
          const data = JSON.parse(frame.data);
          if (frame.event === 'content') {
            if (!text) {
              text = document.createTextNode('');
              reply.body.append(text);
            }
            text.appendData(data.delta);
            reply.item.scrollIntoView({ block: 'end' });
          } else if (frame.event === 'tool_call') {
            reply.body.append(toolCallView(data));
            text = null;
          } else if (frame.event === 'error') {
            finished = true;
            reply.item.classList.add('failed');
            const requestId = response.headers.get('X-Request-Id') ?? '';
            showError(
              new GatewayError({ status: response.status, request_id: requestId, ...data }),
              'The run failed',
            );
          } else if (frame.event === 'done') {
            finished = true;
            reply.item.classList.add('done');
          }
        }
        if (!finished) throw new TypeError('The stream broke off.');
      } catch (error) {
        if (error.name === 'AbortError' || error instanceof GatewayError || !runId || ++failures > 10)
          throw error;
        reply.item.classList.add('reconnecting');
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(8000, wait * 2);
        const resume = lastId ? { 'Last-Event-ID': lastId } : {};
        response = await api('GET', `${thread}/runs/${encodeURIComponent(runId)}/events`, {
          signal,
          headers: resume,
        }).catch((failed) => {
          if (failed instanceof GatewayError) throw failed;
          return null; // still offline: try again after the next wait
        });
        if (!response)
          response = { body: new ReadableStream({ start: (c) => c.error(new TypeError('offline')) }) };
      }
    }
  } catch (error) {
    reply?.item.classList.add('failed');
    if (error.name === 'AbortError') reply?.body.append(h('em', { class: 'muted' }, ' (stopped)'));
    else showError(error, reply ? 'The run failed' : 'Could not send the message');
  } finally {
    reply?.item.removeAttribute('aria-busy');
    state.controller = null;
    state.run = null;
    setBusy(false);
    $('message').focus();
    refreshUsage();
  }
}

function wire() {
  $('token').value = state.token;
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = $('token').value.trim();
    rememberToken(state.token);
    state.threadId = null;
    fill($('thread-id'), 'none yet');
    $('token-panel').open = false;
    applyToken();
  });
  $('assistant').addEventListener('change', () => {
    // The next message starts a thread with the newly chosen assistant.
    state.threadId = null;
    fill($('thread-id'), 'none yet (created with your next message)');
  });
  $('new-thread').addEventListener('click', async () => {
    clearErrors();
    try {
      await newThread();
      $('message').focus();
    } catch (error) {
      showError(error, 'Could not create a thread');
    }
  });
  $('refresh-usage').addEventListener('click', () => refreshUsage());
  // Stop cancels the run itself (it would otherwise outlive this page's connection).
  $('stop').addEventListener('click', () => {
    if (state.run) api('POST', `${state.run}/cancel`).catch(() => {});
    state.controller?.abort();
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const message = $('message').value.trim();
    if (!message || state.controller) return;
    $('message').value = '';
    send(message);
  });
  submitOnEnter($('message'), $('composer'));
}

/** A token from a link is used only once the reader says so (see takeToken). */
function askToUse(offered) {
  offerToken({
    offered: describeToken(offered),
    current: state.token ? describeToken(state.token) : null,
    onAccept: () => {
      state.token = offered;
      rememberToken(offered);
      $('token').value = offered;
      $('token-panel').open = false;
      state.threadId = null;
      fill($('thread-id'), 'none yet');
      applyToken();
    },
  });
}

wire();
applyToken();
if (taken.offered) askToUse(taken.offered);
