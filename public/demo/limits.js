// The rate-limit panel of the /demo page: the `RateLimit` header of the latest
// response, and the caller's quotas from `GET /v1/usage`.
import { h } from '../assets/dom.js';

const LABELS = { user: 'Your requests', tenant: 'Tenant requests' };

/** One meter per policy of the `RateLimit` header (see parseRateLimit in edge.js). */
export function limitsView(entries) {
  return h(
    'dl',
    { class: 'limits', id: 'ratelimit-list' },
    ...entries.flatMap((entry) => {
      const label = LABELS[entry.name] ?? entry.name;
      const of = entry.quota === undefined ? '' : ` of ${entry.quota}`;
      const reset = entry.reset ? ` · full again in ${entry.reset} s` : '';
      return [
        h('dt', {}, label),
        h(
          'dd',
          { dataset: { policy: entry.name, remaining: entry.remaining } },
          h('meter', {
            min: 0,
            max: entry.quota ?? entry.remaining,
            low: (entry.quota ?? 0) * 0.2,
            value: entry.remaining,
            'aria-label': `${label}: ${entry.remaining}${of} left`,
          }),
          h('span', { class: 'limit-text' }, `${entry.remaining}${of} left${reset}`),
        ),
      ];
    }),
  );
}

const size = (bytes) =>
  bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;

/** The quotas `GET /v1/usage` reports. */
export function usageView(usage) {
  const rows = [
    ['Threads', `${usage.threads.yours} yours · ${usage.threads.remaining} more allowed`],
    ['Live streams', `${usage.streams.active} of ${usage.streams.max}`],
    ['Files', `${usage.files.yours} · up to ${size(usage.files.max_bytes)} each`],
    ['Rate', `${usage.limits.requests_per_minute}/min, bursts of ${usage.limits.burst}`],
  ];
  return h(
    'dl',
    { class: 'usage' },
    ...rows.flatMap(([key, value]) => [h('dt', {}, key), h('dd', {}, value)]),
  );
}
