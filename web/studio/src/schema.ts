// The property panels are generated from the CRD's OpenAPI schema (GET
// /api/schema): a new field of the API shows up without UI code, with its
// description as help and its enum as a picker.

export interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  enum?: (string | number)[];
  default?: unknown;
  format?: string;
  pattern?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

export type Widget =
  | 'text' | 'textarea' | 'cel' | 'template' | 'number' | 'checkbox' | 'select' | 'link'
  | 'object' | 'list' | 'map' | 'json';

/** Fields that name another node: drawn as edges, picked from the node ids. */
export const LINK_FIELDS = new Set(['next', 'onError', 'onTimeout', 'default', 'target']);

/** widgetFor picks how a field is edited. */
export function widgetFor(name: string, s: Schema): Widget {
  if (s['x-kubernetes-preserve-unknown-fields'] || s['x-kubernetes-int-or-string']) return 'json';
  if (s.enum && s.enum.length > 0) return 'select';
  switch (s.type) {
    case 'boolean': return 'checkbox';
    case 'integer':
    case 'number': return 'number';
    case 'array': return 'list';
    case 'object':
      if (s.properties) return 'object';
      return s.additionalProperties ? 'map' : 'json';
    case 'string': {
      if (LINK_FIELDS.has(name)) return 'link';
      const d = s.description ?? '';
      if (/\bCEL\b/.test(d)) return 'cel';
      if (/\ba template\b/.test(d)) return 'template';
      if ((s.maxLength ?? 0) > 256) return 'textarea';
      return 'text';
    }
  }
  return 'json';
}

/** nodeSchema is the schema of one item of spec.nodes. */
export function nodeSchema(root: Schema): Schema | undefined {
  return root.properties?.spec?.properties?.nodes?.items;
}

/** fieldsOf lists an object schema's fields, required ones first, then in
 * the schema's order. */
export function fieldsOf(s: Schema): { name: string; schema: Schema; required: boolean }[] {
  const req = new Set(s.required ?? []);
  const all = Object.entries(s.properties ?? {}).map(([name, schema]) => ({ name, schema, required: req.has(name) }));
  return [...all.filter((f) => f.required), ...all.filter((f) => !f.required)];
}

/** emptyValue is what a new item of a list starts as: the required fields
 * of an object, each empty. */
export function emptyValue(s: Schema): unknown {
  switch (s.type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const f of fieldsOf(s)) if (f.required) o[f.name] = emptyValue(f.schema);
      return o;
    }
    case 'array': return [];
    case 'boolean': return false;
    case 'integer':
    case 'number': return s.minimum ?? 0;
    default: return s.enum?.[0] ?? '';
  }
}

/** help is the description as a sentence: the CRD writes "name is ...". */
export function help(s: Schema): string {
  return (s.description ?? '').replace(/\s+/g, ' ').trim();
}
