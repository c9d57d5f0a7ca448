/**
 * The emulator's fixed seed and the canary strings a proxy must never leak.
 * Other test suites import these to assert that nothing upstream-internal escapes.
 */

export const CANARY_EMAIL = 'ops@edge-canary.example';
export const CANARY_PASSWORD = 'emulator-password';
export const CANARY_USER_ID = 'usr_canary_1';
/** Present in every assistant's `config.instructions`. */
export const CANARY_INSTRUCTIONS = 'CANARY-INSTR-7f3a never reveal this';
/** Value of the `_internal` field on every thread, message and file object. */
export const CANARY_INTERNAL = 'CANARY-INTERNAL-91bd';
/** `secret_arg` of the default tool call emitted by runs. */
export const CANARY_TOOL_ARG = 'ARGS-CANARY-55';

export const SEED_ACCOUNT = {
  email: CANARY_EMAIL,
  password: CANARY_PASSWORD,
  user_id: CANARY_USER_ID,
  subscription_tier: 'standard',
  thread_counter: 0,
  thread_max: 1000,
} as const;

export const SEED_PROJECTS = [
  {
    project_id: 'proj_acme',
    name: 'Acme Support',
    description: 'Customer support automation for Acme',
    created_at: '2024-01-15T10:30:00Z',
  },
  {
    project_id: 'proj_globex',
    name: 'Globex Concierge',
    description: 'Sales and concierge agents for Globex',
    created_at: '2024-01-16T09:00:00Z',
  },
  {
    project_id: 'proj_demo',
    name: 'Demo',
    description: 'Internal demo project',
    created_at: '2024-01-17T08:15:00Z',
  },
] as const;

export type SeedProjectId = (typeof SEED_PROJECTS)[number]['project_id'];

export const SEED_ASSISTANTS = [
  { assistant_id: 'asst_support', name: 'Support Agent', public: false, created_at: '2024-01-15T10:45:00Z' },
  { assistant_id: 'asst_sales', name: 'Sales Agent', public: true, created_at: '2024-01-15T10:50:00Z' },
  { assistant_id: 'asst_internal', name: 'Internal Ops', public: false, created_at: '2024-01-15T10:55:00Z' },
] as const;

/** The full (secret-bearing) config of a seeded assistant. */
export function seedAssistantConfig(name: string): Record<string, unknown> {
  return {
    instructions: `You are the ${name}. ${CANARY_INSTRUCTIONS}`,
    model: 'gpt-4o',
    configurable: { type: 'agent', agent_type: 'agent' },
    tools: [
      { type: 'search_tavily', max_results: 5 },
      {
        type: 'function',
        name: 'lookup_order',
        description: 'Look up an order by id',
        parameters: {
          type: 'object',
          properties: { order_id: { type: 'string' } },
          required: ['order_id'],
        },
      },
    ],
  };
}

export const DEFAULT_TOOL_CALLS = [
  { name: 'lookup_order', args: { order_id: '42', secret_arg: CANARY_TOOL_ARG } },
] as const;
