import { describe, expect, it } from 'vitest';
import { CANARY_INSTRUCTIONS } from '../emulator/canaries';
import { TENANTS } from '../fixtures/tenants';
import { expectAuthenticatedHeaders, expectNoSecrets, watchUpstream } from '../helpers/assertions';
import { testGateway } from '../helpers/gateway';

describe('assistants', () => {
  it('lists exactly the allow-listed assistants, id and name only', async () => {
    const gw = testGateway();
    const alice = await gw.caller('acme');
    const res = await alice.edge.v1.assistants.$get();
    expect(res.status).toBe(200);
    expectAuthenticatedHeaders(res);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.clone().text();
    expectNoSecrets(text);
    for (const hidden of [
      'asst_internal',
      'Internal Ops',
      'instructions',
      'tools',
      'model',
      CANARY_INSTRUCTIONS,
    ]) {
      expect(text).not.toContain(hidden);
    }
    expect(await res.json()).toEqual({
      assistants: [
        { assistant_id: 'asst_support', name: 'Support Agent' },
        { assistant_id: 'asst_sales', name: 'Sales Agent' },
      ],
    });
  });

  it("follows each tenant's own allow-list", async () => {
    const gw = testGateway();
    const globex = await gw.caller('globex');
    expect(await (await globex.edge.v1.assistants.$get()).json()).toEqual({
      assistants: [{ assistant_id: 'asst_support', name: 'Support Agent' }],
    });
  });

  it('leaves out allow-listed assistants the upstream does not have', async () => {
    const gw = testGateway({
      tenants: { acme: { ...TENANTS.acme, assistants: ['asst_ghost', 'asst_sales', 'asst_support'] } },
    });
    const alice = await gw.caller('acme');
    const watch = await watchUpstream(gw.emulator);
    expect(await (await alice.edge.v1.assistants.$get()).json()).toEqual({
      assistants: [
        { assistant_id: 'asst_sales', name: 'Sales Agent' },
        { assistant_id: 'asst_support', name: 'Support Agent' },
      ],
    });
    // One upstream list call (plus the token fetches), never a per-assistant read.
    const reads = (await watch.requests()).filter((r) => r.path.startsWith('/assistants'));
    expect(reads.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /assistants/']);
  });

  it('accepts the wrapped list shape too, not only a bare array', async () => {
    const gw = testGateway();
    await gw.emulator.configure({ list_shape: 'object' });
    const alice = await gw.caller('acme');
    const res = await alice.edge.v1.assistants.$get();
    expectNoSecrets(await res.clone().text());
    expect(await res.json()).toEqual({
      assistants: [
        { assistant_id: 'asst_support', name: 'Support Agent' },
        { assistant_id: 'asst_sales', name: 'Sales Agent' },
      ],
    });
  });
});
