// The /docs page: renders /openapi.json (operations by tag, parameters, bodies and
// responses) and lets the reader call each operation with a pasted session token.

import { errorView, fill, h, prose, tokenOfferView } from '../assets/dom.js';
import { describeToken, readError, rememberToken, takeToken } from '../assets/edge.js';
import { exampleOf, schemaView } from './schema.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const taken = takeToken();
const state = { token: taken.token, doc: null };

const $ = (id) => document.getElementById(id);

function setupToken() {
  const input = $('token');
  input.value = state.token;
  const show = () =>
    fill($('token-state'), state.token ? 'Token set for this tab.' : 'No token: /v1 calls will get 401.');
  show();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = input.value.trim();
    rememberToken(state.token);
    show();
  });
  // A token from a link is used only once the reader says so (see takeToken).
  if (!taken.offered) return;
  const offered = taken.offered;
  document.body.prepend(
    tokenOfferView({
      offered: describeToken(offered),
      current: state.token ? describeToken(state.token) : null,
      onAccept: () => {
        state.token = offered;
        rememberToken(offered);
        input.value = offered;
        show();
      },
      onDismiss: () => {},
    }),
  );
}

const operationId = (method, path) =>
  `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;

function operations(doc) {
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ method, path, op, id: operationId(method, path) });
    }
  }
  return [...byTag.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** A path that may wrap after each `/` rather than mid-word. */
const breakable = (path) => path.split('/').flatMap((part, i) => (i ? [h('wbr'), `/${part}`] : [part]));

function methodBadge(method) {
  return h('span', { class: `method method-${method}` }, method.toUpperCase());
}

function authLine(op) {
  if (op.security?.some((requirement) => 'bearerAuth' in requirement)) {
    return h('p', { class: 'auth' }, 'Auth: ', h('code', {}, 'Authorization: Bearer <session token>'));
  }
  const signed = op.parameters?.some((p) => p.in === 'header' && p.name === 'webhook-signature');
  return h('p', { class: 'auth' }, signed ? 'Auth: Standard Webhooks signature headers' : 'Auth: none');
}

function parametersView(doc, op) {
  if (!op.parameters?.length) return null;
  return h(
    'table',
    { class: 'params' },
    h('caption', {}, 'Parameters'),
    h(
      'thead',
      {},
      h('tr', {}, ...['Name', 'In', 'Schema', 'Description'].map((t) => h('th', { scope: 'col' }, t))),
    ),
    h(
      'tbody',
      {},
      ...op.parameters.map((p) =>
        h(
          'tr',
          {},
          h(
            'td',
            {},
            h('code', {}, p.name),
            p.required ? h('span', { class: 'required' }, ' required') : null,
          ),
          h('td', {}, p.in),
          h('td', {}, schemaView(doc, p.schema)),
          h('td', {}, p.description ?? p.schema?.description ?? ''),
        ),
      ),
    ),
  );
}

function contentView(doc, content) {
  return Object.entries(content ?? {}).map(([type, media]) =>
    h(
      'div',
      { class: 'media' },
      h('code', { class: 'media-type' }, type),
      media.schema ? schemaView(doc, media.schema) : null,
    ),
  );
}

function responsesView(doc, op) {
  return h(
    'div',
    { class: 'responses' },
    h('h4', {}, 'Responses'),
    ...Object.entries(op.responses ?? {}).map(([status, response]) =>
      h(
        'details',
        { class: `response status-${status[0]}xx`, open: status.startsWith('2') },
        h('summary', {}, h('strong', {}, status), ' ', prose(response.description, 'span')),
        ...contentView(doc, response.content),
      ),
    ),
  );
}

function operationView(doc, { method, path, op, id }) {
  return h(
    'section',
    { class: 'operation', id, 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, methodBadge(method), ' ', h('code', { class: 'path' }, path)),
    op.summary ? prose(op.summary, 'p') : null,
    op.description ? prose(op.description, 'p') : null,
    op['x-static-asset'] ? h('p', { class: 'muted' }, 'Served by Workers static assets.') : null,
    authLine(op),
    parametersView(doc, op),
    op.requestBody
      ? h('div', { class: 'body' }, h('h4', {}, 'Request body'), ...contentView(doc, op.requestBody.content))
      : null,
    responsesView(doc, op),
    tryItView(doc, method, path, op, id),
  );
}

function tryItView(doc, method, path, op, id) {
  const inputs = (op.parameters ?? []).map((p) => {
    const inputId = `${id}-param-${p.in}-${p.name}`;
    const value = p.example ?? p.schema?.example ?? p.schema?.default ?? '';
    const input = h('input', { id: inputId, value: String(value), required: p.required && p.in === 'path' });
    return { p, input, field: h('div', {}, h('label', { for: inputId }, `${p.name} (${p.in})`), input) };
  });
  const body = op.requestBody?.content ?? {};
  const json = body['application/json'];
  const multipart = body['multipart/form-data'];
  const bodyId = `${id}-body`;
  const bodyInput = json
    ? h(
        'textarea',
        { id: bodyId, class: 'code', rows: 6 },
        JSON.stringify(exampleOf(doc, json.schema), null, 2),
      )
    : multipart
      ? h('input', { id: bodyId, type: 'file' })
      : null;
  const output = h('div', { class: 'output', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit' }, 'Send');
  const stop = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Stop');
  let controller = null;
  stop.addEventListener('click', () => controller?.abort());

  const form = h(
    'form',
    { class: 'try' },
    ...inputs.map((i) => i.field),
    bodyInput ? h('label', { for: bodyId }, multipart ? 'file (multipart/form-data)' : 'Body (JSON)') : null,
    bodyInput,
    h('div', { class: 'actions' }, send, stop),
    output,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    try {
      await call({ method, path, op, inputs, bodyInput, json, multipart, output, signal: controller.signal });
    } finally {
      send.disabled = false;
      stop.disabled = true;
    }
  });
  return h('details', { class: 'try-it' }, h('summary', {}, 'Try it'), form);
}

async function call({ method, path, op, inputs, bodyInput, json, multipart, output, signal }) {
  let url = path;
  const query = new URLSearchParams();
  const headers = new Headers();
  for (const { p, input } of inputs) {
    const value = input.value;
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(value));
    else if (value === '') continue;
    else if (p.in === 'query') query.set(p.name, value);
    else if (p.in === 'header') headers.set(p.name, value);
  }
  if (query.size) url += `?${query}`;
  if (op.security?.some((requirement) => 'bearerAuth' in requirement) && state.token) {
    headers.set('Authorization', `Bearer ${state.token}`);
  }
  const init = { method: method.toUpperCase(), headers, signal };
  if (json && bodyInput) {
    headers.set('Content-Type', 'application/json');
    init.body = bodyInput.value;
  } else if (multipart && bodyInput?.files?.[0]) {
    init.body = new FormData();
    init.body.set('file', bodyInput.files[0]);
  }
  const started = performance.now();
  const status = h('p', { class: 'status' }, `${init.method} ${url} …`);
  const pre = h('pre', { class: 'response-body' });
  fill(output, status, pre);
  try {
    const response = await fetch(url, init);
    const took = () => `${Math.round(performance.now() - started)} ms`;
    fill(status, h('strong', {}, `${response.status} ${response.statusText}`), ` · ${took()}`);
    const headerList = h(
      'pre',
      { class: 'headers' },
      [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n'),
    );
    output.insertBefore(h('details', {}, h('summary', {}, 'Response headers'), headerList), pre);
    if (!response.ok) {
      output.insertBefore(errorView(await readError(response.clone())), pre);
    }
    if (response.headers.get('Content-Type')?.startsWith('text/event-stream') && response.body) {
      // Shown raw, frame by frame, as it arrives.
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pre.append(value);
      }
      status.append(` · stream closed after ${took()}`);
      return;
    }
    const text = await response.text();
    try {
      pre.textContent = text ? JSON.stringify(JSON.parse(text), null, 2) : '(empty body)';
    } catch {
      pre.textContent = text;
    }
  } catch (error) {
    status.append(signal.aborted ? ' · stopped' : ` · failed: ${error.name}`);
  }
}

async function main() {
  setupToken();
  try {
    const response = await fetch('/openapi.json');
    if (!response.ok) throw await readError(response);
    state.doc = await response.json();
  } catch (error) {
    fill($('intro'), errorView(error.code ? error : { status: 0, code: 'NETWORK', detail: String(error) }));
    fill($('toc'));
    return;
  }
  const doc = state.doc;
  document.title = `${doc.info.title} ${doc.info.version} API`;
  fill($('version'), `v${doc.info.version} · OpenAPI ${doc.openapi}`);
  fill($('intro'), doc.info.description ?? '');
  const groups = operations(doc);
  fill(
    $('toc'),
    ...groups.map(([tag, ops]) =>
      h(
        'div',
        { class: 'toc-group' },
        h('h2', {}, tag),
        h(
          'ul',
          {},
          ...ops.map((o) =>
            h('li', {}, h('a', { href: `#${o.id}` }, methodBadge(o.method), ' ', breakable(o.path))),
          ),
        ),
      ),
    ),
  );
  fill(
    $('operations'),
    ...groups.map(([tag, ops]) =>
      h(
        'section',
        { class: 'tag', 'aria-label': tag },
        h('h2', {}, tag),
        ...ops.map((o) => operationView(doc, o)),
      ),
    ),
  );
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

main();
