// A tiny DOM builder for the static pages: text always goes in as text nodes, never
// as HTML, so nothing from a response or the document can inject markup.

/**
 * `h('button', { class: 'x', onclick: fn, disabled: true }, 'Send')`. Props starting
 * with `on` become listeners; `true`/`false` toggle boolean attributes; `null` and
 * `undefined` children are skipped; strings become text nodes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Text with `backtick` spans as <code>, the only markup the document's prose uses here. */
export function prose(text, tag = 'p') {
  const parts = String(text ?? '').split('`');
  return h(tag, {}, ...parts.map((part, i) => (i % 2 === 1 ? h('code', {}, part) : part)));
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The gateway's error (see `readError` in edge.js) as a plain, readable alert. */
export function errorView(error, title = 'Request failed') {
  const rows = [
    ['Status', String(error.status)],
    ['Code', error.code],
    ['Request id', error.request_id],
    ['Field', error.field],
    ['Retry after', error.retry_after ? `${error.retry_after} s` : undefined],
  ].filter(([, value]) => value);
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('strong', {}, `${title}: `),
    error.detail,
    h('dl', {}, ...rows.flatMap(([key, value]) => [h('dt', {}, key), h('dd', {}, h('code', {}, value))])),
  );
}

/**
 * Asks before a token from a link is used: says whose it is and whose the tab uses now,
 * with "Use it" and "Keep" buttons. Replaces itself with nothing once answered.
 */
export function tokenOfferView({ offered, current, onAccept, onDismiss }) {
  const box = h(
    'section',
    { id: 'token-offer', class: 'token-offer', role: 'alertdialog', 'aria-labelledby': 'token-offer-title' },
    h('h2', { id: 'token-offer-title' }, 'This link carries a session token'),
    h('p', {}, 'It is for ', h('strong', { id: 'token-offer-who' }, offered), '.'),
    current
      ? h('p', {}, 'This tab uses ', h('strong', { id: 'token-offer-current' }, current), '.')
      : h('p', {}, 'This tab has no token yet.'),
    h(
      'p',
      { class: 'muted small' },
      'Whatever you type after saying yes goes to that account. ',
      'Say yes only to a link you meant to open, such as the one npm start printed.',
    ),
    h(
      'div',
      { class: 'token-offer-actions' },
      h(
        'button',
        { id: 'token-offer-accept', type: 'button', onclick: () => answer(onAccept) },
        'Use this token',
      ),
      h(
        'button',
        { id: 'token-offer-dismiss', type: 'button', class: 'secondary', onclick: () => answer(onDismiss) },
        current ? 'Keep mine' : 'Ignore it',
      ),
    ),
  );
  const answer = (then) => {
    box.remove();
    then();
  };
  return box;
}

/**
 * Puts the token offer at the top of the page. Enter then keeps what the tab has:
 * replacing a token takes a deliberate choice.
 */
export function offerToken({ offered, current, onAccept }) {
  document.body.prepend(tokenOfferView({ offered, current, onAccept, onDismiss: () => {} }));
  document.getElementById(current ? 'token-offer-dismiss' : 'token-offer-accept')?.focus();
}

/** Enter sends the message (Shift+Enter is a new line), as chat boxes do. */
export function submitOnEnter(textarea, form) {
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}
