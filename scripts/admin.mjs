// `npm run admin -- <verb> [args]`: the common operations of the admin API (/admin/v1)
// from a shell. The Worker's origin is EDGE_URL (default http://127.0.0.1:8787, what
// `npm start` serves) and the operator key EDGE_ADMIN_KEY (never an argument, so it stays
// out of shell history and process lists). Every verb is one or two plain HTTP calls; the
// README shows the same with curl.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const USAGE = `usage: npm run admin -- <verb> [args]

  tenants                               list the tenants (secrets masked)
  tenant <id>                           show one tenant
  add-tenant <id> <file.json | ->       create or replace a tenant from a TENANTS entry
  patch-tenant <id> <file.json | ->     change some fields (JSON merge patch)
  delete-tenant <id>                    delete a tenant (refused everywhere within 30 s)
  rotate-secret <id> [--kid K] [--retire K] [--replace]
                                        add a new HS256 secret (printed once), keep the others
                                        (--retire K drops one; K=session_secret drops that);
                                        a K of --kid that exists is refused, unless --replace:
                                        then its secret is replaced and its tokens stop verifying
  block <tenant> <sub>                  refuse one end user (403 USER_BLOCKED)
  unblock <tenant> <sub>                let them back in
  blocks <tenant>                       the blocked users of a tenant
  delete-threads <tenant> <sub>         delete an end user's threads (all of them: 5 a call,
                                        called again while some remain, waiting when told)
  usage [--tenant T] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--group user] [--format json|csv|ndjson]
                                        export metered usage
  account                               the upstream account and the governor's budget
  audit [--tenant T] [--limit N]        the audit trail, newest first
  hash-key [key]                        a new operator key (or the given one) and its SHA-256
                                        for ADMIN_KEY_HASHES; no request is made

env: EDGE_URL (default http://127.0.0.1:8787), EDGE_ADMIN_KEY (the operator key)`;

const base = (process.env.EDGE_URL ?? 'http://127.0.0.1:8787').replace(/\/+$/, '');

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** The options each verb takes; any other is refused, so a misspelt one is not silently ignored. */
const VERB_OPTIONS = {
  tenants: [],
  tenant: [],
  'add-tenant': [],
  'patch-tenant': [],
  'delete-tenant': [],
  'rotate-secret': ['kid', 'retire', 'replace'],
  block: [],
  unblock: [],
  blocks: [],
  'delete-threads': [],
  usage: ['tenant', 'from', 'to', 'group', 'format'],
  account: [],
  audit: ['tenant', 'limit'],
  'hash-key': [],
};

/** Options that take no value: present or not. */
const FLAGS = new Set(['replace']);

/**
 * `--name value` or `--name=value` options (`--flag` alone for {@link FLAGS}) and the
 * positional arguments of `verb`'s `args`, before any request: an option `verb` does not
 * take, or one without its value (none follows, or the next option does), exits 1 naming
 * it. After `--` every argument is positional (a user id that starts with `--`).
 */
function parse(verb, args) {
  const allowed = VERB_OPTIONS[verb];
  const options = {};
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = splitOption(arg.slice(2));
    if (!allowed.includes(name)) {
      const takes = allowed.length === 0 ? 'none' : allowed.map((option) => `--${option}`).join(', ');
      fail(`${verb}: unknown option --${name} (it takes ${takes})`);
    }
    if (FLAGS.has(name)) {
      if (inline !== undefined) fail(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    if (inline !== undefined) {
      if (inline === '') fail(`--${name} needs a value`);
      options[name] = inline;
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) fail(`${arg} needs a value`);
    options[name] = value;
    i += 1;
  }
  return { options, positional };
}

/** `name=value` as its name and value; `name` alone as its name and no value. */
function splitOption(text) {
  const at = text.indexOf('=');
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** One admin API call; prints the gateway's error and exits on a non-2xx answer. */
async function api(method, path, body) {
  const key = process.env.EDGE_ADMIN_KEY ?? fail('EDGE_ADMIN_KEY is not set (the operator key)');
  const res = await fetch(`${base}/admin/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((error) => fail(`${base} cannot be reached: ${error.message}`));
  const text = await res.text();
  if (!res.ok) fail(`${method} /admin/v1${path}: HTTP ${res.status} ${text}`);
  return text;
}

const show = (text) => {
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    process.stdout.write(text);
  }
};

const readJson = (file) => {
  let text;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (error) {
    // One line an operator can act on, not Node's stack trace.
    return fail(
      `${file}: cannot be read (${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    return fail(`${file}: not JSON`);
  }
};

const need = (value, what) => value ?? fail(`missing ${what}\n\n${USAGE}`);
const path = (value) => encodeURIComponent(value);

const [verb, ...rest] = process.argv.slice(2);
if (!Object.hasOwn(VERB_OPTIONS, verb ?? '')) fail(USAGE);
const { options, positional } = parse(verb, rest);
const [first, second] = positional;

switch (verb) {
  case 'tenants':
    show(await api('GET', '/tenants'));
    break;
  case 'tenant':
    show(await api('GET', `/tenants/${path(need(first, '<id>'))}`));
    break;
  case 'add-tenant':
    show(
      await api('PUT', `/tenants/${path(need(first, '<id>'))}`, readJson(need(second, '<file.json | ->'))),
    );
    break;
  case 'patch-tenant':
    show(
      await api('PATCH', `/tenants/${path(need(first, '<id>'))}`, readJson(need(second, '<file.json | ->'))),
    );
    break;
  case 'delete-tenant':
    await api('DELETE', `/tenants/${path(need(first, '<id>'))}`);
    console.log(`deleted ${first}`);
    break;
  case 'rotate-secret': {
    const id = need(first, '<id>');
    const current = JSON.parse(await api('GET', `/tenants/${path(id)}`)).config;
    const stored = current.auth?.hs256 ?? [];
    const kids = new Set(stored.map((key) => key.kid));
    // Everything is checked before the one PATCH: a refused rotation changes nothing.
    if (options.retire !== undefined) {
      const known =
        options.retire === 'session_secret' ? current.session_secret !== undefined : kids.has(options.retire);
      if (!known) fail(`tenant ${id} has no HS256 secret ${options.retire} to retire; nothing was changed`);
      if (options.retire === options.kid)
        fail(`--kid and --retire both name ${options.kid}; nothing was changed`);
    }
    // Reusing a kid would swap the secret its live tokens verify with: those users get
    // 401. So only a deliberate --replace may do it.
    if (options.kid !== undefined && kids.has(options.kid) && !options.replace) {
      fail(
        `tenant ${id} already has an HS256 secret with kid ${options.kid}; tokens signed with it would stop ` +
          `verifying. Choose another kid, or pass --replace to overwrite it. Nothing was changed.`,
      );
    }
    const generate = () => `${new Date().toISOString().slice(0, 10)}-${randomBytes(2).toString('hex')}`;
    let kid = options.kid ?? generate();
    // A generated kid must be new too: two random bytes a day can collide.
    while (options.kid === undefined && kids.has(kid)) kid = generate();
    const secret = randomBytes(32).toString('base64url');
    // The masked entries stand for the stored secrets: they are kept as they are.
    const kept = stored.filter((key) => key.kid !== options.retire && key.kid !== kid);
    const patch = { auth: { hs256: [{ kid, secret }, ...kept] } };
    if (options.retire === 'session_secret') patch.session_secret = null;
    await api('PATCH', `/tenants/${path(id)}`, patch);
    const what = kids.has(kid) ? 'replaced HS256 secret' : 'new HS256 secret';
    const retired = options.retire === undefined ? '' : `, retired ${options.retire}`;
    console.log(
      `tenant ${id}: ${what}, kid ${kid}${retired} (shown once; sign tokens with this kid):\n${secret}`,
    );
    break;
  }
  case 'block':
  case 'unblock':
    show(
      await api(
        verb === 'block' ? 'POST' : 'DELETE',
        `/tenants/${path(need(first, '<tenant>'))}/users/${path(need(second, '<sub>'))}/block`,
      ),
    );
    break;
  case 'delete-threads': {
    const route = `/tenants/${path(need(first, '<tenant>'))}/users/${path(need(second, '<sub>'))}/threads`;
    let answer;
    let deleted = 0;
    let failed = 0;
    // Each call deletes at most 50, and stops early (retry_after) when the upstream account's
    // budget is spent or the upstream is down: wait as told, then go on. A call that deletes
    // none and was not told to wait ends it (what remains failed, or is being created), and
    // so do five such calls in a row that were told to wait (no progress: give up, say so).
    for (let idle = 0; ; ) {
      answer = JSON.parse(await api('DELETE', route));
      deleted += answer.deleted;
      failed += answer.failed;
      idle = answer.deleted > 0 ? 0 : idle + 1;
      if (answer.remaining === 0) break;
      if (answer.retry_after === undefined ? answer.deleted === 0 : idle >= 5) break;
      if (answer.retry_after !== undefined) {
        console.error(`waiting ${answer.retry_after} s (${answer.remaining} left)`);
        await new Promise((resolve) => setTimeout(resolve, answer.retry_after * 1000));
      }
    }
    // `deleted` and `failed` over every call (a thread whose delete failed in two calls counts
    // twice: they are failed deletes); `remaining` as the last call left it.
    show(JSON.stringify({ ...answer, deleted, failed }));
    if (answer.remaining > 0) console.error(`${answer.remaining} threads remain (${failed} deletes failed)`);
    break;
  }
  case 'blocks':
    show(await api('GET', `/tenants/${path(need(first, '<tenant>'))}/blocks`));
    break;
  case 'usage': {
    const query = new URLSearchParams(options);
    const text = await api('GET', `/usage${query.size ? `?${query}` : ''}`);
    if ((options.format ?? 'json') === 'json') show(text);
    else process.stdout.write(text);
    break;
  }
  case 'account':
    show(await api('GET', '/account'));
    break;
  case 'audit': {
    const query = new URLSearchParams(options);
    show(await api('GET', `/audit${query.size ? `?${query}` : ''}`));
    break;
  }
  case 'hash-key': {
    const key = first ?? `eek_${randomBytes(24).toString('base64url')}`;
    if (!first) console.log(`operator key (keep it secret): ${key}`);
    console.log(`ADMIN_KEY_HASHES entry: ${createHash('sha256').update(key).digest('hex')}`);
    break;
  }
  default:
    // Every verb of VERB_OPTIONS has its case above; an unknown one was refused before parsing.
    fail(USAGE);
}
