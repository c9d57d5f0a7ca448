import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/webhooks/signature';
import { TENANTS } from '../fixtures/tenants';
import { expectError, expectNoSecrets, watchUpstream, withoutRequestId } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';
import { parseJson } from '../helpers/json';
import {
  DeliveryAcceptedSchema,
  deliveryCount,
  HOOK_SECRET,
  HOOK_SECRET_NEXT,
  messageId,
  sendHook,
  waitForDelivery,
} from '../helpers/webhooks';

/**
 * The webhook ingress refusals. Each runs against a gateway of its own (unique tenant ids,
 * fresh emulator universe) and asserts that nothing happened: no delivery recorded (so
 * nothing enqueued), no upstream request, no secret in the answer.
 */
async function setup() {
  const gw = testGateway();
  const tenant = gw.ids.acme ?? '';
  const upstream = await watchUpstream(gw.emulator);
  const hook = (body: unknown, options: Parameters<typeof sendHook>[2] = {}) =>
    sendHook(tenant, body, { fetch: gw.fetch, ...options });
  const nothingHappened = async () => {
    expect(await deliveryCount(tenant)).toBe(0);
    await upstream.expectNone();
  };
  return { gw, tenant, hook, nothingHappened };
}

const refused = async (res: Response) => {
  const body = await expectError(res, 401, 'UNAUTHORIZED');
  expectNoSecrets(JSON.stringify(body), [HOOK_SECRET, TENANTS.acme.session_secret]);
  return body;
};

describe('webhook ingress: verification', () => {
  it('refuses a body altered by one byte after signing', async () => {
    const { hook, nothingHappened } = await setup();
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    const signature = await signWebhook(HOOK_SECRET, id, ts, '{"message":"hello"}');
    await refused(await hook('{"message":"hellp"}', { id, timestamp: ts, signature }));
    await nothingHappened();
  });

  it('refuses a timestamp 301 s old, in the words of every other refusal', async () => {
    const { hook, nothingHappened } = await setup();
    const now = Math.floor(Date.now() / 1000);
    const late = await refused(await hook({ message: 'x' }, { timestamp: now - 301 }));
    // The same wording for a bad signature or an unknown tenant: a 401 tells a prober nothing.
    expect(late.detail).toBe('Invalid webhook signature, timestamp or id.');
    await nothingHappened();
  });

  it('refuses a timestamp 301 s ahead', async () => {
    const { hook, nothingHappened } = await setup();
    // Rounded up: the Worker reads its clock later, and a second that ticks meanwhile must not make it 300.
    const now = Math.ceil(Date.now() / 1000);
    await refused(await hook({ message: 'x' }, { timestamp: now + 301 }));
    await nothingHappened();
  });

  it('refuses an id containing a dot', async () => {
    const { hook, nothingHappened } = await setup();
    await refused(await hook({ message: 'x' }, { id: 'msg_a.b' }));
    await nothingHappened();
  });

  it('refuses an unknown signature version', async () => {
    const { hook, nothingHappened } = await setup();
    const ts = Math.floor(Date.now() / 1000);
    const id = messageId();
    const good = await signWebhook(HOOK_SECRET, id, ts, '{"message":"x"}');
    await refused(
      await hook('{"message":"x"}', { id, timestamp: ts, signature: good.replace('v1,', 'v2,') }),
    );
    await nothingHappened();
  });

  it('refuses an empty signature header', async () => {
    const { hook, nothingHappened } = await setup();
    await refused(await hook({ message: 'x' }, { signature: '' }));
    await nothingHappened();
  });

  it('refuses an unknown tenant', async () => {
    const { gw, nothingHappened } = await setup();
    await refused(await sendHook('nope', { message: 'x' }, { fetch: gw.fetch }));
    await nothingHappened();
  });

  it('refuses a tenant without a webhook secret', async () => {
    const { gw, nothingHappened } = await setup();
    await refused(await sendHook(gw.ids.globex ?? '', { message: 'x' }, { fetch: gw.fetch }));
    await nothingHappened();
  });

  it('refuses a signature made with another secret', async () => {
    const { hook, nothingHappened } = await setup();
    await refused(await hook({ message: 'x' }, { secret: 'whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==' }));
    await nothingHappened();
  });

  it('refuses a session token on the hook route, even with a valid signature', async () => {
    const { gw, hook, nothingHappened } = await setup();
    const alice = await gw.caller('acme');
    const body = await refused(
      await hook({ message: 'x' }, { headers: { authorization: `Bearer ${alice.token}` } }),
    );
    expect(body.detail).toMatch(/Session tokens/);
    await nothingHappened();
  });

  it('refuses a webhook signature on a session route', async () => {
    const { gw, nothingHappened } = await setup();
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': await signWebhook(HOOK_SECRET, id, ts, '{}'),
      'content-type': 'application/json',
    };
    await refused(await gw.fetch('/v1/threads', { method: 'POST', headers, body: '{}' }));
    await refused(await gw.fetch('/v1/threads', { headers }));
    // Even next to a valid session token.
    const alice = await gw.caller('acme');
    await refused(await alice.request('POST', '/v1/threads', { json: {}, headers }));
    await nothingHappened();
  });
});

describe('webhook ingress: nothing to enumerate', () => {
  it('answers 413 for an oversized body whoever the tenant is, before looking it up', async () => {
    const { gw, tenant, nothingHappened } = await setup();
    const big = JSON.stringify({ message: 'x'.repeat(70 * 1024) });
    const bogus = { signature: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' };
    const bodies = [];
    // With webhooks, without (globex) and unknown: one answer, the size's.
    for (const name of [tenant, gw.ids.globex ?? '', 'nope']) {
      const res = await sendHook(name, big, { fetch: gw.fetch, ...bogus });
      bodies.push(withoutRequestId(await expectError(res, 413, 'PAYLOAD_TOO_LARGE')));
    }
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    await nothingHappened();
  });

  it('gives an unknown tenant, a tenant without webhooks and a bad signature the same 401', async () => {
    const { gw, tenant, nothingHappened } = await setup();
    const bodies = [];
    for (const [name, secret] of [
      [tenant, 'whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=='],
      [gw.ids.globex ?? '', HOOK_SECRET],
      ['nope', HOOK_SECRET],
    ] as const) {
      bodies.push(
        withoutRequestId(await refused(await sendHook(name, { message: 'x' }, { fetch: gw.fetch, secret }))),
      );
    }
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    await nothingHappened();
  });
});

describe('webhook ingress: media type', () => {
  // Signed correctly, so only the media type stands between these and a 202.
  it('refuses a signed body that is not declared JSON with 415, recording nothing', async () => {
    const { hook, nothingHappened } = await setup();
    for (const type of [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json-seq',
      'application/jsonx',
      'json',
      '',
    ]) {
      const res = await hook({ message: 'x' }, { headers: { 'content-type': type } });
      await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      // Refused before the tenant's bucket was asked: no RateLimit pair.
      expect(res.headers.get('ratelimit'), type).toBeNull();
    }
    await nothingHappened();
  });

  it('refuses a signed body sent without a Content-Type with 415, recording nothing', async () => {
    const { gw, tenant, nothingHappened } = await setup();
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    const body = '{"message":"x"}';
    const res = await gw.fetch(`/v1/hooks/${tenant}/run`, {
      method: 'POST',
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': await signWebhook(HOOK_SECRET, id, ts, body),
      },
      // A stream, so the runtime adds no Content-Type of its own.
      body: new Blob([body]).stream(),
    });
    expect(res.headers.get('ratelimit')).toBeNull();
    await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    await nothingHappened();
  });

  it('answers 415 alike for every tenant name, before the 401 rules look it up', async () => {
    const { gw, tenant, nothingHappened } = await setup();
    const bodies = [];
    // With webhooks and a good signature, without webhooks, and unknown: one answer.
    for (const name of [tenant, gw.ids.globex ?? '', 'nope']) {
      const res = await sendHook(
        name,
        { message: 'x' },
        { fetch: gw.fetch, headers: { 'content-type': 'text/plain' } },
      );
      bodies.push(withoutRequestId(await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')));
    }
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    await nothingHappened();
  });

  it('accepts JSON as the session routes do: any case, with parameters, or a +json type', async () => {
    const { hook, tenant } = await setup();
    const types = ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.acme+json'];
    for (const type of types) {
      expect((await hook({ message: 'typed' }, { headers: { 'content-type': type } })).status, type).toBe(
        202,
      );
    }
    expect(await deliveryCount(tenant)).toBe(types.length);
  });
});

describe('webhook ingress: secret rotation', () => {
  it('accepts a signature by either listed secret, or a header carrying both', async () => {
    const { hook, tenant } = await setup();
    for (const secret of [HOOK_SECRET, HOOK_SECRET_NEXT]) {
      expect((await hook({ message: 'rotating' }, { secret })).status).toBe(202);
    }
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    const body = '{"message":"both"}';
    const both = `${await signWebhook(HOOK_SECRET, id, ts, body)} ${await signWebhook(HOOK_SECRET_NEXT, id, ts, body)}`;
    expect((await hook(body, { id, timestamp: ts, signature: both })).status).toBe(202);
    expect(await deliveryCount(tenant)).toBe(3);
    // A secret that is neither is still refused.
    const fresh = await setup();
    await refused(
      await fresh.hook({ message: 'x' }, { secret: 'whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==' }),
    );
    await fresh.nothingHappened();
  });
});

describe('webhook ingress: body and fields', () => {
  it('answers 413 for a declared body over 64 KiB', async () => {
    const { hook, nothingHappened } = await setup();
    const big = JSON.stringify({ message: 'x'.repeat(70 * 1024) });
    await expectError(await hook(big), 413, 'PAYLOAD_TOO_LARGE');
    await nothingHappened();
  });

  it('answers 413 for a streamed body over 64 KiB', async () => {
    const { gw, tenant, nothingHappened } = await setup();
    const big = JSON.stringify({ message: 'x'.repeat(70 * 1024) });
    const id = messageId();
    const ts = Math.floor(Date.now() / 1000);
    const chunks = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < chunks.byteLength; at += 8192) controller.enqueue(chunks.slice(at, at + 8192));
        controller.close();
      },
    });
    const res = await gw.fetch(`/v1/hooks/${tenant}/run`, {
      method: 'POST',
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': await signWebhook(HOOK_SECRET, id, ts, big),
      },
      body: stream,
    });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    await nothingHappened();
  });

  it('answers a verified body of malformed JSON with 400 BAD_REQUEST', async () => {
    const { hook, nothingHappened } = await setup();
    await expectError(await hook('{"message":'), 400, 'BAD_REQUEST');
    await nothingHappened();
  });

  it('names an unknown field and a missing message of a verified body', async () => {
    const { hook, nothingHappened } = await setup();
    await expectError(await hook({ message: 'x', extra: 1 }), 400, 'VALIDATION_ERROR', 'extra');
    await expectError(await hook({}), 400, 'VALIDATION_ERROR', 'message');
    await nothingHappened();
  });

  it('names a bad thread id, subject or assistant of a verified body', async () => {
    const { hook, nothingHappened } = await setup();
    await expectError(await hook({ message: 'x', thread_id: '../x' }), 400, 'VALIDATION_ERROR', 'thread_id');
    await expectError(
      await hook({ message: 'x', subject: 's'.repeat(129) }),
      400,
      'VALIDATION_ERROR',
      'subject',
    );
    await expectError(await hook({ message: 'x', subject: '' }), 400, 'VALIDATION_ERROR', 'subject');
    // A token's `sub` rules: no control character, lone surrogate or whitespace-only value, and
    // not the gateway's own `edge:` users (but the default, `edge:automation`, below).
    const refused = [
      '.',
      '..',
      'a\nb',
      'a\u0000b',
      'a\u0085',
      'a\ud800',
      ' ',
      '\u3000',
      'edge:x',
      'edge:automation2',
    ];
    for (const subject of refused)
      await expectError(await hook({ message: 'x', subject }), 400, 'VALIDATION_ERROR', 'subject');
    await expectError(
      await hook({ message: 'x', assistant_id: 'asst_internal' }),
      400,
      'VALIDATION_ERROR',
      'assistant_id',
    );
    await nothingHappened();
  });

  // Each runs to its end: a queued run still going when the file ends fails its teardown.
  it.each([
    ['a subject with spaces inside, as a token’s sub may have', 'Ada Lovelace'],
    ['the default subject named outright, as if it were left out', 'edge:automation'],
  ])('accepts %s', async (_what, subject) => {
    const { gw, hook, tenant } = await setup();
    const res = await hook({ message: 'x', subject });
    expect(res.status).toBe(202);
    expect(await deliveryCount(tenant)).toBe(1);
    const { delivery_id } = await parseJson(res, DeliveryAcceptedSchema);
    const done = await waitForDelivery(tenant, delivery_id, undefined, 10_000, { fetch: gw.fetch });
    expect(done.status).toBe('succeeded');
  });

  it('verifies before it validates: a bad signature on an invalid body is a 401', async () => {
    const { hook, nothingHappened } = await setup();
    await refused(await hook({ extra: 1 }, { signature: 'v1,AAAA' }));
    await nothingHappened();
  });

  it('refuses a callback URL outside the tenant’s callback origins', async () => {
    const { hook, nothingHappened } = await setup();
    const refusedUrls = [
      'https://evil.example/__callbacks/x',
      'http://hooks.acme.example/__callbacks/x',
      'https://hooks.acme.example.evil.example/x',
      'https://user:pass@hooks.acme.example/x',
      'ftp://hooks.acme.example/x',
      'not a url',
    ];
    for (const callback_url of refusedUrls) {
      const body = await expectError(
        await hook({ message: 'x', callback_url }),
        400,
        'VALIDATION_ERROR',
        'callback_url',
      );
      expect(body.detail).not.toContain('pass');
    }
    await nothingHappened();
  });
});
