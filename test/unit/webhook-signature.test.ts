import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { backoffSeconds, retryBaseSeconds } from '../../src/queue/backoff';
import {
  checkHeaders,
  SIGNED_PREFIX,
  signedHeaders,
  signWebhook,
  verifyWebhook,
} from '../../src/webhooks/signature';

// The Standard Webhooks spec's reference vector (and the fixture tenant's secret).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const AT = TS * 1000;

const headers = (signature: string, id = ID, timestamp = String(TS)) => ({ id, timestamp, signature });

describe('Standard Webhooks signatures', () => {
  it('reproduces the spec’s reference vector', async () => {
    expect(await signWebhook(SECRET, ID, TS, BODY)).toBe(SIGNATURE);
    expect(await verifyWebhook(SECRET, headers(SIGNATURE), BODY, AT)).toEqual({
      ok: true,
      id: ID,
      timestamp: TS,
    });
  });

  it('refuses a body altered by one byte', async () => {
    const altered = BODY.replace('2432232314', '2432232315');
    expect(await verifyWebhook(SECRET, headers(SIGNATURE), altered, AT)).toEqual({
      ok: false,
      reason: 'no_match',
    });
    const bytes = new TextEncoder().encode(BODY);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    expect((await verifyWebhook(SECRET, headers(SIGNATURE), bytes, AT)).ok).toBe(false);
  });

  it('refuses a signature made with another secret', async () => {
    const other = 'whsec_QmFkU2VjcmV0QmFkU2VjcmV0QmFkU2VjcmV0';
    expect((await verifyWebhook(other, headers(SIGNATURE), BODY, AT)).ok).toBe(false);
  });

  it('accepts timestamps up to 5 minutes off either way, refuses 301 s', async () => {
    const at = async (offset: number) => {
      const ts = TS + offset;
      const signature = await signWebhook(SECRET, ID, ts, BODY);
      return verifyWebhook(SECRET, headers(signature, ID, String(ts)), BODY, AT);
    };
    expect((await at(-299)).ok).toBe(true);
    expect((await at(299)).ok).toBe(true);
    expect((await at(300)).ok).toBe(true);
    expect(await at(-301)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(await at(301)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });

  it('takes any of several signatures (key rotation) and ignores unknown versions', async () => {
    const rotated = 'v1,Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=';
    expect((await verifyWebhook(SECRET, headers(`${rotated} ${SIGNATURE}`), BODY, AT)).ok).toBe(true);
    // The right HMAC under an unknown version does not count.
    const v2 = SIGNATURE.replace('v1,', 'v2,');
    expect(await verifyWebhook(SECRET, headers(`${v2} ${rotated}`), BODY, AT)).toEqual({
      ok: false,
      reason: 'no_match',
    });
    expect((await verifyWebhook(SECRET, headers(`${v2} ${SIGNATURE}`), BODY, AT)).ok).toBe(true);
    expect((await verifyWebhook(SECRET, headers(`v1a,x ${SIGNATURE} garbage`), BODY, AT)).ok).toBe(true);
  });

  it('refuses an id containing a dot', async () => {
    const dotted = 'msg_p5jXN8AQM9LWM0D4loKWxJek.1';
    const signature = await signWebhook(SECRET, dotted, TS, BODY);
    expect(await verifyWebhook(SECRET, headers(signature, dotted), BODY, AT)).toEqual({
      ok: false,
      reason: 'bad_id',
    });
  });

  it('refuses a malformed timestamp', () => {
    expect(checkHeaders(headers(SIGNATURE, ID, `${TS}.0`), AT)).toEqual({
      ok: false,
      reason: 'bad_timestamp',
    });
    expect(checkHeaders(headers(SIGNATURE, ID, `${TS}abc`), AT)).toEqual({
      ok: false,
      reason: 'bad_timestamp',
    });
  });

  it('refuses a missing header', () => {
    expect(checkHeaders({ id: ID, timestamp: String(TS), signature: undefined }, AT)).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
  });

  it('finds no match in a signature that is not base64', () => {
    expect(checkHeaders(headers('v1,not base64!'), AT)).toEqual({ ok: false, reason: 'no_match' });
  });

  it('agrees with the standardwebhooks package both ways', async () => {
    const library = new Webhook(SECRET);
    const now = Date.now();
    const payload = JSON.stringify({ message: 'héllo', n: 1 });
    const theirs = library.sign('msg_lib_1', new Date(now), payload);
    expect(
      (await verifyWebhook(SECRET, headers(theirs, 'msg_lib_1', String(Math.floor(now / 1000))), payload)).ok,
    ).toBe(true);
    const ts = Math.floor(now / 1000);
    const ours = await signWebhook(SECRET, 'msg_ours_1', ts, payload);
    const verified = library.verify(payload, {
      'webhook-id': 'msg_ours_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': ours,
    });
    expect(verified).toEqual({ message: 'héllo', n: 1 });
  });
});

describe('several secrets and separated uses', () => {
  const NEXT = 'whsec_cm90YXRlZC1ob29rLXNlY3JldC0yMDI3IQ==';

  it('accepts a signature by any listed secret, and signs with every one', async () => {
    expect((await verifyWebhook([NEXT, SECRET], headers(SIGNATURE), BODY, AT)).ok).toBe(true);
    expect((await verifyWebhook([NEXT], headers(SIGNATURE), BODY, AT)).ok).toBe(false);
    const out = await signedHeaders([SECRET, NEXT], ID, BODY, AT);
    expect(out['webhook-signature'].split(' ')).toHaveLength(2);
    const received = {
      id: out['webhook-id'],
      timestamp: out['webhook-timestamp'],
      signature: out['webhook-signature'],
    };
    for (const secret of [SECRET, NEXT])
      expect((await verifyWebhook(secret, received, BODY, AT)).ok).toBe(true);
    // Exactly the spec's signature for the first secret: multi-signature is plain concatenation.
    expect(out['webhook-signature'].split(' ')[0]).toBe(SIGNATURE);
  });

  it('gives lookups and callbacks prefixes no JSON body can start with', () => {
    for (const prefix of Object.values(SIGNED_PREFIX)) {
      expect(() => JSON.parse(`${prefix}{}`)).toThrow();
      expect(prefix).toMatch(/^epsimo-edge\./);
    }
    expect(new Set(Object.values(SIGNED_PREFIX)).size).toBe(2);
  });
});

describe('retry backoff', () => {
  it('doubles from the base, honours a Retry-After floor and is capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffSeconds(n, 10))).toEqual([10, 20, 40, 80, 160]);
    expect(backoffSeconds(1, 10, 30)).toBe(30);
    expect(backoffSeconds(20, 10)).toBe(3600);
    expect(backoffSeconds(3, 0)).toBe(0);
  });

  it('reads WEBHOOK_RETRY_BASE_SECONDS with a default', () => {
    expect(retryBaseSeconds('10')).toBe(10);
    expect(retryBaseSeconds('0')).toBe(0);
    expect(retryBaseSeconds(undefined)).toBe(10);
    expect(retryBaseSeconds('soon')).toBe(10);
  });
});
