// The /chat/ page: a chat built on the Vercel AI SDK itself (its `AbstractChat` and
// `DefaultChatTransport`, bundled from the `ai` npm package into ./vendor/ai.js by
// scripts/build-chat.mjs) against the gateway's `POST /v1/chat`, the way a `useChat`
// frontend is. `resume: true` is what `useChat` does on mount: `chat.resumeStream()`.
import { errorView, fill, h, offerToken, submitOnEnter } from '../assets/dom.js';
import { describeToken, rememberToken, takeToken, tokenClaims } from '../assets/edge.js';
import { AbstractChat, AI_VERSION, DefaultChatTransport } from './vendor/ai.js';

const CHAT_KEY = 'epsimo-edge-chat';
const $ = (id) => document.getElementById(id);
// A token in the link (`#token=`) is only offered: the reader decides (see takeToken).
const taken = takeToken();
const page = { token: taken.token, chat: null, done: new Set() };

/**
 * The SDK's `ChatState` for a page without a framework: plain fields, and a redraw
 * scheduled after every change (what `@ai-sdk/react` does with React state).
 */
class PageState {
  #status = 'ready';
  #error = undefined;
  #messages;

  constructor(messages) {
    this.#messages = messages;
  }

  get status() {
    return this.#status;
  }
  set status(status) {
    this.#status = status;
    redraw();
  }
  get error() {
    return this.#error;
  }
  set error(error) {
    this.#error = error;
    redraw();
  }
  get messages() {
    return this.#messages;
  }
  set messages(messages) {
    this.#messages = messages;
    redraw();
  }
  pushMessage = (message) => {
    this.messages = [...this.#messages, message];
  };
  popMessage = () => {
    this.messages = this.#messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = this.#messages.with(index, this.snapshot(message));
  };
  snapshot = (value) => structuredClone(value);
}

class PageChat extends AbstractChat {
  constructor({ id, messages }) {
    super({
      id,
      state: new PageState(messages),
      transport: new DefaultChatTransport({
        api: '/v1/chat',
        // Read at each request, so a token pasted later is the one sent.
        headers: () => ({ Authorization: `Bearer ${page.token}` }),
      }),
      onFinish: ({ message, isError, isAbort }) => {
        if (!isError && !isAbort) page.done.add(message.id);
        redraw();
      },
    });
  }
}

/** A chat id the gateway accepts (`^[A-Za-z0-9_-]{1,128}$`). */
const newChatId = () => `chat_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;

function loadChat() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(CHAT_KEY) ?? 'null');
    if (saved && typeof saved.id === 'string' && Array.isArray(saved.messages)) return saved;
  } catch {
    // not ours: start afresh
  }
  return { id: newChatId(), messages: [] };
}

function startChat(saved) {
  page.chat?.stop();
  page.done = new Set(saved.messages.map((m) => m.id));
  page.chat = new PageChat(saved);
  fill($('chat-id'), saved.id);
  redraw();
}

let scheduled = false;
function redraw() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    draw();
  });
}

function draw() {
  const { chat } = page;
  if (!chat) return;
  const busy = chat.status === 'submitted' || chat.status === 'streaming';
  fill($('status'), chat.status);
  $('send').disabled = busy || !page.token;
  $('stop').disabled = !busy;
  const last = chat.messages.at(-1);
  fill(
    $('log'),
    chat.messages.length
      ? chat.messages.map((message) => messageView(message, busy && message === last))
      : h(
          'li',
          { class: 'hint muted' },
          'Send a message: the chat id names one thread, created with the first one.',
        ),
  );
  $('log').lastElementChild?.scrollIntoView({ block: 'end' });
  fill($('errors'), chat.error ? errorView(errorInfo(chat.error), 'The chat failed') : null);
  sessionStorage.setItem(CHAT_KEY, JSON.stringify({ id: chat.id, messages: chat.messages }));
}

function messageView(message, streaming) {
  const assistant = message.role === 'assistant';
  const classes = ['msg', `msg-${message.role}`];
  if (assistant && page.done.has(message.id)) classes.push('done');
  if (assistant && !streaming && page.chat?.error && message === page.chat.messages.at(-1))
    classes.push('failed');
  return h(
    'li',
    { class: classes.join(' '), 'aria-busy': streaming ? 'true' : null, dataset: { id: message.id } },
    h('span', { class: 'who' }, assistant ? 'Assistant' : 'You'),
    h('div', { class: 'text' }, ...message.parts.map(partView)),
  );
}

/** Text parts as text; tool calls as the tenant's `tool_calls` policy cut them (no arguments: `{}`). */
function partView(part) {
  if (part.type === 'text') return h('span', { class: 'part' }, part.text);
  if (part.type === 'dynamic-tool') {
    const args = part.input && Object.keys(part.input).length ? JSON.stringify(part.input, null, 2) : null;
    return h(
      'div',
      { class: 'part tool-call' },
      h('span', { class: 'tool-label' }, 'Tool call'),
      ' ',
      h('code', {}, part.toolName),
      args === null ? null : h('pre', {}, args),
    );
  }
  return null;
}

/**
 * What the SDK's error carries, as the gateway's error view shows it: a refused request
 * is an `APICallError` whose message is the gateway's JSON error body; a run that failed
 * mid-stream is the `errorText` `"<CODE>: <detail>"`.
 */
function errorInfo(error) {
  try {
    const body = JSON.parse(error.message);
    if (body && typeof body.code === 'string') {
      return {
        status: error.statusCode ?? 0,
        code: body.code,
        detail: body.detail,
        request_id: body.request_id,
      };
    }
  } catch {
    // not a JSON body
  }
  const coded = /^([A-Z_]+): (.*)$/s.exec(error.message);
  if (coded) return { status: 200, code: coded[1], detail: coded[2] };
  return { status: 0, code: 'NETWORK_ERROR', detail: String(error.message) };
}

function applyToken() {
  const claims = page.token ? tokenClaims(page.token) : null;
  fill(
    $('who'),
    !page.token
      ? 'No session token yet: paste one to start.'
      : claims
        ? `Tenant ${claims.tenant} · user ${claims.sub}`
        : 'Token set (not a readable JWT).',
  );
  if (!page.token) {
    $('token-panel').open = true;
    return;
  }
  // resume: true — a run still in progress for this chat (a reload mid-answer) streams on.
  page.chat?.resumeStream();
}

function wire() {
  fill($('sdk-version'), `ai ${AI_VERSION}`);
  $('token').value = page.token;
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    page.token = $('token').value.trim();
    rememberToken(page.token);
    $('token-panel').open = false;
    applyToken();
    redraw();
  });
  $('new-chat').addEventListener('click', () => {
    sessionStorage.removeItem(CHAT_KEY);
    startChat({ id: newChatId(), messages: [] });
    $('message').focus();
  });
  $('stop').addEventListener('click', () => page.chat?.stop());
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('message').value.trim();
    if (!text || !page.chat || $('send').disabled) return;
    $('message').value = '';
    page.chat.sendMessage({ text });
  });
  submitOnEnter($('message'), $('composer'));
}

/** A token from a link is used only once the reader says so, as on the demo page. */
function askToUse(offered) {
  offerToken({
    offered: describeToken(offered),
    current: page.token ? describeToken(page.token) : null,
    onAccept: () => {
      page.token = offered;
      rememberToken(offered);
      $('token').value = offered;
      $('token-panel').open = false;
      applyToken();
      redraw();
    },
  });
}

wire();
startChat(loadChat());
applyToken();
if (taken.offered) askToUse(taken.offered);
