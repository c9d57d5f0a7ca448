// The admin CLI's own refusals (scripts/admin.mjs): what it refuses before any request,
// run against nothing. EDGE_URL points at a port nobody listens on, so a request the CLI
// did make would end in "cannot be reached"; each refusal below must not get that far.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';

const NOWHERE = 'http://127.0.0.1:9';
const UNREACHED = /cannot be reached/;

/** Runs `npm run admin -- <args>` against nothing; resolves to its exit code and outputs. */
function cli(args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['scripts/admin.mjs', ...args],
      { env: { ...process.env, EDGE_URL: NOWHERE, EDGE_ADMIN_KEY: 'test-key' }, timeout: 10_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Asserts `args` exit 1 with `message` as the whole of stderr, printing nothing and asking nobody. */
async function refused(args, message) {
  const run = await cli(args);
  assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
  assert.equal(run.stderr.trim(), message, args.join(' '));
  assert.equal(run.stdout, '', `${args.join(' ')} printed nothing`);
  assert.doesNotMatch(run.stderr, UNREACHED, `${args.join(' ')} made no request`);
  assert.doesNotMatch(run.stderr, /\n\s+at /, `${args.join(' ')} shows no stack`);
}

test('an unknown option is an error naming it, before any request', async () => {
  await refused(
    ['usage', '--bogus', 'x'],
    'usage: unknown option --bogus (it takes --tenant, --from, --to, --group, --format)',
  );
  await refused(
    ['usage', '--tenant', 't', '--Tenant', 'u'],
    'usage: unknown option --Tenant (it takes --tenant, --from, --to, --group, --format)',
  );
  await refused(['tenants', '--tenant', 'x'], 'tenants: unknown option --tenant (it takes none)');
  await refused(
    ['rotate-secret', 't1', '--retire-all'],
    'rotate-secret: unknown option --retire-all (it takes --kid, --retire, --replace)',
  );
  await refused(['audit', '--kid=k'], 'audit: unknown option --kid (it takes --tenant, --limit)');
  await refused(['rotate-secret', 't1', '--replace=yes'], '--replace takes no value');
});

test('an option without its value names the option', async () => {
  await refused(['usage', '--tenant'], '--tenant needs a value');
  // The next option is not a value.
  await refused(['usage', '--tenant', '--from', '2026-01-01'], '--tenant needs a value');
  await refused(['rotate-secret', 't1', '--kid'], '--kid needs a value');
  await refused(['rotate-secret', 't1', '--retire', '--replace'], '--retire needs a value');
  await refused(['usage', '--tenant='], '--tenant needs a value');
});

test('a tenant file that cannot be read is one line, exit 1, no request', async () => {
  await refused(['add-tenant', 't3', 'nosuchfile.json'], 'nosuchfile.json: cannot be read (no such file)');
  await refused(['patch-tenant', 't3', 'nosuchfile.json'], 'nosuchfile.json: cannot be read (no such file)');
});

test('valid options get as far as the request (here: nobody answers)', async () => {
  for (const args of [
    ['usage', '--tenant', 't', '--group', 'user', '--format', 'csv'],
    ['audit', '--limit', '5'],
    ['rotate-secret', 't1', '--kid', 'k2', '--replace'],
    // --name=value, and a user id that starts with -- after the end of the options.
    ['usage', '--tenant=t', '--format=csv'],
    ['block', 't1', '--', '--odd-user'],
    ['delete-threads', 't1', '--', '--odd-user'],
  ]) {
    const run = await cli(args);
    assert.equal(run.code, 1, args.join(' '));
    assert.match(run.stderr, UNREACHED, args.join(' '));
  }
  const hashed = await cli(['hash-key', 'some-key']);
  assert.equal(hashed.code, 0, hashed.stderr);
  assert.match(hashed.stdout, /^ADMIN_KEY_HASHES entry: [0-9a-f]{64}$/m);
});
