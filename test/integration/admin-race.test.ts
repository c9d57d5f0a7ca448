import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { operator } from '../helpers/admin';
import { expectError } from '../helpers/assertions';
import { unique } from '../helpers/fixtures';
import { parseJson } from '../helpers/json';

/**
 * The cross-tenant check on IdP issuers (contract section 2: two tenants with one issuer
 * and no distinct audiences are CONFIG_INVALID) holds under concurrent admin writes: the
 * write itself refuses a taken issuer, not only the read before it.
 */
const RACERS = 6;
/** Rounds of each race: one round let all six through in the probe only once in five. */
const ROUNDS = 5;

const jwksEntry = (issuer: string) => ({
  project_id: 'proj_acme',
  assistants: ['asst_support'],
  auth: { jwks: { uri: 'https://idp.example/jwks.json', issuer } },
});

const ListSchema = z.object({
  tenants: z.array(z.object({ id: z.string(), config: z.record(z.string(), z.unknown()) })),
});

/** The ids of the live tenants whose `auth.jwks.issuer` is `issuer`. */
async function holdersOf(admin: ReturnType<typeof operator>, issuer: string): Promise<string[]> {
  const { tenants } = await parseJson(await admin.request('GET', '/tenants'), ListSchema);
  const IssuerSchema = z.object({ auth: z.object({ jwks: z.object({ issuer: z.string() }) }) });
  return tenants
    .filter((t) => IssuerSchema.safeParse(t.config).data?.auth.jwks.issuer === issuer)
    .map((t) => t.id);
}

describe('admin API: concurrent writes of one IdP issuer', () => {
  it('lets exactly one of concurrent PUTs with one issuer and no audience through', async () => {
    const admin = operator();
    for (let round = 0; round < ROUNDS; round++) {
      const issuer = `https://race-${unique()}.example`;
      const ids = Array.from({ length: RACERS }, () => `race-${unique()}`);
      const answers = await Promise.all(
        ids.map((id) => admin.request('PUT', `/tenants/${id}`, { json: jwksEntry(issuer) })),
      );
      const created = answers.filter((res) => res.status === 201);
      expect(created.length, `round ${round}`).toBe(1);
      for (const res of answers.filter((r) => r.status !== 201)) {
        await expectError(res, 400, 'VALIDATION_ERROR', 'auth.jwks');
      }
      expect(await holdersOf(admin, issuer)).toHaveLength(1);
    }
  });

  it('lets exactly one of concurrent PATCHes onto one issuer through', async () => {
    const admin = operator();
    for (let round = 0; round < ROUNDS; round++) {
      const issuer = `https://race-${unique()}.example`;
      const ids = Array.from({ length: RACERS }, () => `race-${unique()}`);
      for (const id of ids) {
        const own = await admin.request('PUT', `/tenants/${id}`, {
          json: jwksEntry(`https://${id}.example`),
        });
        expect(own.status).toBe(201);
      }
      const answers = await Promise.all(
        ids.map((id) => admin.request('PATCH', `/tenants/${id}`, { json: { auth: { jwks: { issuer } } } })),
      );
      expect(answers.filter((res) => res.status === 200).length, `round ${round}`).toBe(1);
      for (const res of answers.filter((r) => r.status !== 200)) {
        await expectError(res, 400, 'VALIDATION_ERROR', 'auth.jwks');
      }
      expect(await holdersOf(admin, issuer)).toHaveLength(1);
    }
  });
});
