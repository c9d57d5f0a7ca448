/** A mounted route as Hono lists it (`app.routes`): middleware is listed with method `ALL`. */
interface MountedRoute {
  path: string;
  method: string;
}

/**
 * The methods each route path answers, from the routes mounted on the app, so that a
 * known path called with another method is `405 METHOD_NOT_ALLOWED` naming them in
 * `Allow`, not the `404` of a path that does not exist. `undefined` for an unknown path.
 */
export function allowedMethods(routes: readonly MountedRoute[]): (path: string) => string | undefined {
  const byPattern = new Map<string, Set<string>>();
  for (const { path, method } of routes) {
    if (method === 'ALL' || path.includes('*')) continue;
    const methods = byPattern.get(path) ?? new Set<string>();
    methods.add(method);
    if (method === 'GET') methods.add('HEAD');
    byPattern.set(path, methods);
  }
  const patterns = [...byPattern].map(([path, methods]) => ({ pattern: compile(path), methods }));
  return (path) => {
    const methods = new Set<string>();
    for (const route of patterns) if (route.pattern.test(path)) for (const m of route.methods) methods.add(m);
    return methods.size === 0 ? undefined : [...methods].sort().join(', ');
  };
}

/** A Hono path (`/v1/threads/:thread_id`) as a regular expression matching one segment per parameter. */
function compile(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}
