// JSON Schema (OpenAPI 3.1) rendering for the /docs page: a readable tree of types,
// and example values to prefill the "try it" forms.
import { h } from '../assets/dom.js';

const REF = '#/components/schemas/';

/** The schema a `$ref` points at, with its component name. */
export function deref(doc, schema) {
  if (!schema?.$ref?.startsWith(REF)) return { name: undefined, schema: schema ?? {} };
  const name = schema.$ref.slice(REF.length);
  return { name, schema: doc.components?.schemas?.[name] ?? {} };
}

/** A short type: `string`, `array of Thread`, `string | null`, `map of JsonValue`. */
export function typeLabel(doc, schema, seen = new Set()) {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return deref(doc, schema).name ?? 'object';
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map((s) => typeLabel(doc, s, seen)).join(' | ');
  const types = Array.isArray(schema.type)
    ? schema.type
    : [schema.type ?? (schema.properties ? 'object' : 'any')];
  return types
    .map((type) => {
      if (type === 'array') return `array of ${typeLabel(doc, schema.items, seen)}`;
      if (type === 'object' && !schema.properties && typeof schema.additionalProperties === 'object') {
        return `map of ${typeLabel(doc, schema.additionalProperties, seen)}`;
      }
      return schema.format ? `${type} (${schema.format})` : type;
    })
    .join(' | ');
}

const CONSTRAINTS = [
  ['minLength', 'min length'],
  ['maxLength', 'max length'],
  ['minimum', '≥'],
  ['maximum', '≤'],
  ['minItems', 'min items'],
  ['maxItems', 'max items'],
  ['pattern', 'pattern'],
  ['default', 'default'],
];

function constraints(schema) {
  const notes = CONSTRAINTS.filter(([key]) => schema[key] !== undefined).map(
    ([key, label]) =>
      `${label} ${typeof schema[key] === 'string' ? schema[key] : JSON.stringify(schema[key])}`,
  );
  if (schema.additionalProperties === false) notes.push('no other fields');
  return notes.length ? h('span', { class: 'constraints' }, notes.join(' · ')) : null;
}

/** The inner schema whose fields are worth listing (objects, arrays of objects). */
function fieldsOf(doc, schema) {
  const { schema: target } = deref(doc, schema);
  if (target.properties) return target;
  if (target.type === 'array' || (Array.isArray(target.type) && target.type.includes('array'))) {
    const item = deref(doc, target.items).schema;
    if (item.properties) return item;
  }
  return null;
}

/** A tree of the schema's fields, expanding each named schema once per branch. */
export function schemaView(doc, schema, seen = new Set()) {
  const { name, schema: target } = deref(doc, schema);
  const head = h(
    'p',
    { class: 'schema-head' },
    h('span', { class: 'type' }, typeLabel(doc, schema)),
    ' ',
    constraints(target),
    target.description ? h('span', { class: 'muted' }, ` — ${target.description}`) : null,
  );
  if (name && seen.has(name)) return head;
  return h('div', { class: 'schema' }, head, fields(doc, schema, name ? new Set([...seen, name]) : seen));
}

function fields(doc, schema, seen) {
  const holder = fieldsOf(doc, schema);
  if (!holder) return null;
  const required = new Set(holder.required ?? []);
  return h(
    'ul',
    { class: 'fields' },
    ...Object.entries(holder.properties).map(([key, property]) => {
      const { name, schema: target } = deref(doc, property);
      const nested =
        name && seen.has(name) ? null : fields(doc, property, name ? new Set([...seen, name]) : seen);
      return h(
        'li',
        {},
        h('code', {}, key),
        ' ',
        h('span', { class: 'type' }, typeLabel(doc, property)),
        required.has(key) ? h('span', { class: 'required' }, ' required') : null,
        ' ',
        constraints(target),
        target.description ? h('span', { class: 'muted' }, ` — ${target.description}`) : null,
        nested,
      );
    }),
  );
}

/** A plausible value for the schema (its example or default, else one built from its type). */
export function exampleOf(doc, schema, depth = 0) {
  const { schema: target } = deref(doc, schema);
  if (target.example !== undefined) return target.example;
  if (target.examples?.length) return target.examples[0];
  if (target.default !== undefined) return target.default;
  if (target.const !== undefined) return target.const;
  if (target.enum) return target.enum[0];
  if (depth > 4) return null;
  const alternatives = target.anyOf ?? target.oneOf;
  if (alternatives) return exampleOf(doc, alternatives[0], depth + 1);
  const type = Array.isArray(target.type) ? target.type.find((t) => t !== 'null') : target.type;
  if (type === 'object' || target.properties) {
    const required = new Set(target.required ?? []);
    const entries = Object.entries(target.properties ?? {}).filter(([key]) => required.has(key));
    return Object.fromEntries(entries.map(([key, value]) => [key, exampleOf(doc, value, depth + 1)]));
  }
  if (type === 'array') return [];
  if (type === 'integer' || type === 'number') return target.minimum ?? 1;
  if (type === 'boolean') return true;
  if (type === 'string') return target.format === 'binary' ? '' : 'hello';
  return null;
}
