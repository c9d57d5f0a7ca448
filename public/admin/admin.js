// The operator dashboard over the admin API (/admin/v1): the upstream account, usage per
// tenant per UTC day as bar charts (drawn by hand in SVG: no chart library is bundled),
// and the tenants with their blocked users. The operator key is kept in this tab only.
import { errorView, fill, h } from '/assets/dom.js';
import { readError } from '/assets/edge.js';

const KEY = 'epsimo-edge-admin-key';
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

const state = { key: sessionStorage.getItem(KEY) ?? '' };

/** One admin API call with the operator key; throws the gateway's error body. */
async function api(method, path, { accept } = {}) {
  const headers = { authorization: `Bearer ${state.key}` };
  if (accept) headers.accept = accept;
  const res = await fetch(`/admin/v1${path}`, { method, headers });
  if (!res.ok) throw await readError(res);
  return res;
}

function showError(error, title) {
  $('errors').append(errorView(error, title));
}

const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

/** The days of the range, oldest first. */
function daysBack(count) {
  const today = Date.parse(`${dayOf(Date.now())}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => dayOf(today - (count - 1 - i) * 86_400_000));
}

function metricValue(row, metric) {
  if (metric === 'refused') return Object.values(row.refused ?? {}).reduce((a, n) => a + n, 0);
  return Number(row[metric] ?? 0);
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children)
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** A bar per day; each bar's <title> says its day and value. */
function barChart(title, days, values) {
  const width = 360;
  const height = 140;
  const left = 34;
  const bottom = 18;
  const max = Math.max(1, ...values);
  const step = (width - left) / days.length;
  const bars = values.map((value, i) => {
    const barHeight = ((height - bottom - 8) * value) / max;
    return svg(
      'rect',
      {
        class: 'bar',
        x: (left + i * step + step * 0.1).toFixed(1),
        y: (height - bottom - barHeight).toFixed(1),
        width: Math.max(1, step * 0.8).toFixed(1),
        height: barHeight.toFixed(1),
        'data-day': days[i],
        'data-value': value,
      },
      svg('title', {}, `${days[i]}: ${value}`),
    );
  });
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': `${title}, ${days[0]} to ${days.at(-1)}`,
    },
    svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    svg('line', { class: 'axis', x1: left, y1: 4, x2: left, y2: height - bottom }),
    svg('text', { x: left - 4, y: 12, 'text-anchor': 'end' }, String(max)),
    svg('text', { x: left - 4, y: height - bottom, 'text-anchor': 'end' }, '0'),
    svg('text', { x: left, y: height - 4 }, days[0]),
    svg('text', { x: width, y: height - 4, 'text-anchor': 'end' }, days.at(-1)),
    ...bars,
  );
  const total = values.reduce((a, n) => a + n, 0);
  return h(
    'figure',
    { class: 'chart', dataset: { tenant: title } },
    h('figcaption', {}, `${title} · ${Math.round(total * 1000) / 1000} in ${days.length} days`),
    chart,
  );
}

async function loadAccount() {
  try {
    const account = await (await api('GET', '/account')).json();
    const governor = account.governor ?? {};
    fill(
      $('account'),
      h('p', { class: 'big', id: 'threads-remaining' }, String(account.threads_remaining)),
      h('p', { class: 'muted small' }, 'threads left on the upstream account'),
      h(
        'dl',
        { class: 'stats' },
        h('dt', {}, 'Used / max'),
        h('dd', {}, `${account.thread_counter} / ${account.thread_max}`),
        h('dt', {}, 'Tier'),
        h('dd', {}, account.tier ?? 'unknown'),
        h('dt', {}, 'Reserve'),
        h('dd', {}, String(account.reserve)),
        h('dt', {}, 'Request budget'),
        h('dd', {}, `${governor.limit}/min${governor.synced ? '' : ' (not yet learnt)'}`),
        h('dt', {}, 'This window'),
        h('dd', {}, governor.window ? `${governor.window.used} of ${governor.window.budget} used` : 'idle'),
      ),
    );
  } catch (error) {
    fill($('account'), errorView(error, 'Account'));
  }
}

async function loadUsage() {
  const days = daysBack(Number($('days').value));
  const metric = $('metric').value;
  try {
    const body = await (await api('GET', `/usage?from=${days[0]}&to=${days.at(-1)}&format=json`)).json();
    const byTenant = new Map();
    for (const row of body.rows) {
      const perDay = byTenant.get(row.tenant) ?? new Map();
      perDay.set(row.day, metricValue(row, metric));
      byTenant.set(row.tenant, perDay);
    }
    if (byTenant.size === 0) {
      fill($('charts'), h('p', { class: 'muted small' }, 'No usage in this range yet.'));
      return;
    }
    const charts = [...byTenant.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, perDay]) =>
        barChart(
          tenant,
          days,
          days.map((day) => perDay.get(day) ?? 0),
        ),
      );
    fill($('charts'), ...charts);
  } catch (error) {
    fill($('charts'), errorView(error, 'Usage'));
  }
}

/** Downloads the export (it needs the key in a header, so no plain link). */
async function download(format) {
  const days = daysBack(Number($('days').value));
  try {
    const res = await api('GET', `/usage?from=${days[0]}&to=${days.at(-1)}&group=user&format=${format}`);
    const url = URL.createObjectURL(await res.blob());
    const link = h('a', { href: url, download: `usage-${days[0]}-${days.at(-1)}.${format}` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (error) {
    showError(error, 'Export');
  }
}

async function setBlocked(tenant, user, blocked) {
  try {
    await api(blocked ? 'POST' : 'DELETE', `/tenants/${tenant}/users/${encodeURIComponent(user)}/block`);
    $('status').textContent = `${user} of ${tenant} ${blocked ? 'blocked' : 'let back in'}.`;
    await loadTenants();
  } catch (error) {
    showError(error, blocked ? 'Block' : 'Unblock');
  }
}

function blockCell(tenant, users) {
  const input = h('input', {
    type: 'text',
    placeholder: 'user (sub)',
    'aria-label': `User of ${tenant} to block`,
  });
  const form = h(
    'form',
    {
      class: 'row block-form',
      onsubmit: (event) => {
        event.preventDefault();
        if (input.value.trim()) setBlocked(tenant, input.value.trim(), true);
      },
    },
    input,
    h('button', { type: 'submit' }, 'Block'),
  );
  const list = h(
    'ul',
    { class: 'blocked-list' },
    ...users.map((entry) =>
      h(
        'li',
        { dataset: { user: entry.user } },
        h('code', {}, entry.user),
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => setBlocked(tenant, entry.user, false) },
          'Unblock',
        ),
      ),
    ),
  );
  return h('td', {}, users.length ? list : h('p', { class: 'muted small' }, 'none blocked'), form);
}

async function loadTenants() {
  try {
    const { tenants } = await (await api('GET', '/tenants')).json();
    const rows = await Promise.all(
      tenants.map(async (tenant) => {
        const { users } = await (await api('GET', `/tenants/${tenant.id}/blocks`)).json();
        return h(
          'tr',
          { dataset: { tenant: tenant.id } },
          h('td', {}, h('code', {}, tenant.id)),
          h('td', {}, tenant.source),
          h('td', {}, String(tenant.config.project_id ?? '')),
          h('td', {}, (tenant.config.assistants ?? []).join(', ')),
          h('td', {}, tenant.updated_at.slice(0, 19).replace('T', ' ')),
          blockCell(tenant.id, users),
        );
      }),
    );
    const head = ['Tenant', 'Source', 'Project', 'Assistants', 'Updated (UTC)', 'Blocked users'];
    fill(
      $('tenants'),
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))),
        h('tbody', {}, ...rows),
      ),
    );
  } catch (error) {
    fill($('tenants'), errorView(error, 'Tenants'));
  }
}

async function loadAll() {
  $('errors').replaceChildren();
  if (!state.key) return;
  $('status').textContent = 'Loading…';
  await Promise.all([loadAccount(), loadUsage(), loadTenants()]);
  $('status').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.key = $('key').value.trim();
  sessionStorage.setItem(KEY, state.key);
  $('key').value = '';
  loadAll();
});
$('forget').addEventListener('click', () => {
  state.key = '';
  sessionStorage.removeItem(KEY);
  $('status').textContent = 'Key forgotten.';
});
$('metric').addEventListener('change', loadUsage);
$('days').addEventListener('change', loadUsage);
$('export-csv').addEventListener('click', () => download('csv'));
$('export-ndjson').addEventListener('click', () => download('ndjson'));

loadAll();
