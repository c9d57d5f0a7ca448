/**
 * A structural check of an OpenAPI 3.1 document: the fields the specification
 * requires, the rules between them (path templates and path parameters, security
 * requirements and schemes, `$ref` targets) and the 3.0 leftovers that are invalid in
 * 3.1 (`nullable`, boolean `exclusiveMinimum`). The usual validators compile JSON
 * Schema with `new Function`, which workerd forbids; this runs where the tests run.
 */

type Json = Record<string, unknown>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const PATH_ITEM_KEYS = new Set<string>([
  ...HTTP_METHODS,
  '$ref',
  'summary',
  'description',
  'servers',
  'parameters',
]);
const PARAMETER_IN = new Set(['query', 'header', 'path', 'cookie']);
const SCHEME_TYPES = new Set(['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect']);
const STATUS = /^(default|[1-5](\d\d|XX))$/;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** Every problem found, as `where: what`; an empty list means the document passed. */
export function openApiProblems(doc: unknown): string[] {
  const problems: string[] = [];
  const fail = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (!isObject(doc)) return ['document: not an object'];

  if (typeof doc.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) fail('openapi', 'must be 3.1.x');
  const info = doc.info;
  if (!isObject(info) || !nonEmptyString(info.title) || !nonEmptyString(info.version)) {
    fail('info', 'needs title and version');
  }
  if (!isObject(doc.paths) && !isObject(doc.webhooks) && !isObject(doc.components)) {
    fail('document', 'needs paths, webhooks or components');
  }
  for (const [i, server] of (Array.isArray(doc.servers) ? doc.servers : []).entries()) {
    if (!isObject(server) || typeof server.url !== 'string') fail(`servers[${i}]`, 'needs url');
  }

  const components = isObject(doc.components) ? doc.components : {};
  const schemes = isObject(components.securitySchemes) ? components.securitySchemes : {};
  for (const [name, scheme] of Object.entries(schemes)) {
    if (!isObject(scheme) || !SCHEME_TYPES.has(String(scheme.type)))
      fail(`securitySchemes.${name}`, 'bad type');
    else if (scheme.type === 'http' && !nonEmptyString(scheme.scheme))
      fail(`securitySchemes.${name}`, 'no scheme');
  }
  const checkSecurity = (where: string, security: unknown) => {
    if (security === undefined) return;
    if (!Array.isArray(security)) return fail(where, 'security must be an array');
    for (const requirement of security) {
      if (!isObject(requirement)) fail(where, 'security requirement must be an object');
      else
        for (const name of Object.keys(requirement))
          if (!(name in schemes)) fail(where, `unknown scheme ${name}`);
    }
  };
  checkSecurity('security', doc.security);

  const templates = new Map<string, string>();
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
    if (!path.startsWith('/')) fail(path, 'path must start with /');
    if (!isObject(item)) {
      fail(path, 'path item must be an object');
      continue;
    }
    const shape = path.replace(/\{[^}]+\}/g, '{}');
    const twin = templates.get(shape);
    if (twin) fail(path, `same template as ${twin}`);
    templates.set(shape, path);
    for (const key of Object.keys(item)) {
      if (!PATH_ITEM_KEYS.has(key) && !key.startsWith('x-')) fail(path, `unknown key ${key}`);
    }
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      const where = `${method.toUpperCase()} ${path}`;
      if (!isObject(operation)) {
        fail(where, 'operation must be an object');
        continue;
      }
      if (typeof operation.operationId === 'string') {
        if (operationIds.has(operation.operationId))
          fail(where, `duplicate operationId ${operation.operationId}`);
        operationIds.add(operation.operationId);
      }
      checkParameters(
        where,
        path,
        [...shared, ...(Array.isArray(operation.parameters) ? operation.parameters : [])],
        fail,
      );
      checkSecurity(where, operation.security);
      if (operation.requestBody !== undefined)
        checkContent(`${where} requestBody`, operation.requestBody, fail);
      const responses = operation.responses;
      if (!isObject(responses) || Object.keys(responses).length === 0) fail(where, 'needs responses');
      else
        for (const [status, response] of Object.entries(responses)) {
          if (!STATUS.test(status)) fail(where, `bad status ${status}`);
          if (
            !isObject(response) ||
            (response.$ref === undefined && typeof response.description !== 'string')
          ) {
            fail(`${where} ${status}`, 'response needs a description');
          } else if (response.content !== undefined) checkContent(`${where} ${status}`, response, fail);
        }
    }
  }
  walk(doc, '#', (where, key, value) => {
    if (where.endsWith('/properties')) return; // `key` is a property name here, not a keyword
    if (key === '$ref' && typeof value === 'string' && !resolves(doc, value))
      fail(where, `unresolved ${value}`);
    if (key === 'nullable') fail(where, '`nullable` is OpenAPI 3.0; 3.1 uses type arrays');
    if ((key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'boolean') {
      fail(where, `boolean ${key} is OpenAPI 3.0; 3.1 uses numbers`);
    }
  });
  return problems;
}

function checkParameters(
  where: string,
  path: string,
  parameters: unknown[],
  fail: (w: string, m: string) => void,
) {
  const seen = new Set<string>();
  const pathParams = new Set<string>();
  for (const parameter of parameters) {
    if (!isObject(parameter) || parameter.$ref !== undefined) continue;
    const { name, in: location } = parameter;
    if (!nonEmptyString(name) || !PARAMETER_IN.has(String(location))) {
      fail(where, 'parameter needs name and a valid `in`');
      continue;
    }
    const key = `${location}:${location === 'header' ? name.toLowerCase() : name}`;
    if (seen.has(key)) fail(where, `duplicate parameter ${key}`);
    seen.add(key);
    if (parameter.schema === undefined && parameter.content === undefined)
      fail(where, `${key} needs a schema`);
    if (location === 'path') {
      pathParams.add(name);
      if (parameter.required !== true) fail(where, `path parameter ${name} must be required`);
    }
  }
  const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? '');
  for (const name of templated) if (!pathParams.has(name)) fail(where, `{${name}} has no path parameter`);
  for (const name of pathParams)
    if (!templated.includes(name)) fail(where, `path parameter ${name} not in the path`);
}

function checkContent(where: string, holder: unknown, fail: (w: string, m: string) => void) {
  if (!isObject(holder) || !isObject(holder.content) || Object.keys(holder.content).length === 0) {
    return fail(where, 'needs content');
  }
  for (const [type, media] of Object.entries(holder.content)) {
    if (!/^[\w.+*-]+\/[\w.+*-]+/.test(type)) fail(where, `bad media type ${type}`);
    if (!isObject(media)) fail(where, `${type} must be an object`);
  }
}

function walk(value: unknown, where: string, visit: (where: string, key: string, value: unknown) => void) {
  if (Array.isArray(value)) {
    for (const [i, entry] of value.entries()) walk(entry, `${where}/${i}`, visit);
  } else if (isObject(value))
    for (const [key, entry] of Object.entries(value)) {
      visit(where, key, entry);
      walk(entry, `${where}/${key}`, visit);
    }
}

function resolves(doc: Json, ref: string): boolean {
  if (!ref.startsWith('#/')) return false;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}
