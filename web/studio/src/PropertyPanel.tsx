import { useEffect, useState } from 'react';
import { emptyValue, fieldsOf, help, LINK_FIELDS, widgetFor, type Schema } from './schema';
import { memberOf, type NodeProblem, type Problem } from './model';

type Path = (string | number)[];

export function pathString(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

interface Ctx {
  nodeIds: string[];
  problems: NodeProblem[];
  onChange: (path: Path, v: unknown) => void;
}

function Problems({ at, ctx }: { at: string; ctx: Ctx }) {
  const ps = ctx.problems.filter((p) => p.sub === at);
  if (!ps.length) return null;
  return (
    <ul className="field-problems">
      {ps.map((p, i) => <li key={i}>{p.message}</li>)}
    </ul>
  );
}

/** A text field that reports its value when it loses focus or on Enter, so
 * that typing is not a validation per key stroke yet an edit is one. */
function TextInput({ value, onCommit, multiline, mono, testid }: { value: string; onCommit: (v: string) => void; multiline?: boolean; mono?: boolean; testid?: string }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  const commit = () => { if (v !== value) onCommit(v); };
  const props = {
    value: v, 'data-testid': testid, className: mono ? 'mono' : '',
    onChange: (e: any) => setV(e.target.value),
    onBlur: commit,
  };
  if (multiline) return <textarea rows={Math.min(8, Math.max(2, v.split('\n').length))} {...props} onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) commit(); }} />;
  return <input type="text" {...props} onKeyDown={(e) => { if (e.key === 'Enter') commit(); }} />;
}

function Field({ name, schema, value, path, required, ctx }: { name: string; schema: Schema; value: any; path: Path; required: boolean; ctx: Ctx }) {
  const w = widgetFor(name, schema);
  const at = pathString(path);
  const id = `f-${at}`;
  const set = (v: unknown) => ctx.onChange(path, v);
  const label = (
    <label htmlFor={id} title={help(schema)}>
      {name}{required && <span className="req">*</span>}
      {(w === 'cel' || w === 'template') && <span className={`tag ${w}`}>{w === 'cel' ? 'CEL' : 'template'}</span>}
    </label>
  );
  const hint = help(schema) ? <div className="help">{help(schema)}</div> : null;
  let input: React.ReactNode;
  switch (w) {
    case 'checkbox':
      input = <input id={id} type="checkbox" checked={!!value} onChange={(e) => set(e.target.checked ? true : undefined)} />;
      break;
    case 'number':
      input = <input id={id} type="number" value={value ?? ''} min={schema.minimum} max={schema.maximum} onChange={(e) => set(e.target.value === '' ? undefined : Number(e.target.value))} />;
      break;
    case 'select':
      input = (
        <select id={id} value={value ?? ''} onChange={(e) => set(e.target.value === '' ? undefined : e.target.value)} data-testid={`field-${at}`}>
          <option value="">{schema.default !== undefined ? `(default: ${schema.default})` : '(none)'}</option>
          {schema.enum!.map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
        </select>
      );
      break;
    case 'link':
      input = (
        <select id={id} value={value ?? ''} onChange={(e) => set(e.target.value || undefined)} data-testid={`field-${at}`}>
          <option value="">(none)</option>
          {value && !ctx.nodeIds.includes(value) && <option value={value}>{value} (missing)</option>}
          {ctx.nodeIds.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      );
      break;
    case 'cel':
    case 'template':
    case 'textarea':
      input = <TextInput value={value ?? ''} onCommit={(v) => set(v === '' && !required ? undefined : v)} multiline mono testid={`field-${at}`} />;
      break;
    case 'text':
      input = <TextInput value={value ?? ''} onCommit={(v) => set(v === '' && !required ? undefined : v)} testid={`field-${at}`} />;
      break;
    case 'object':
      return (
        <fieldset className="obj">
          <legend title={help(schema)}>{name}{required && <span className="req">*</span>}</legend>
          <Problems at={at} ctx={ctx} />
          {value === undefined ? (
            <button type="button" onClick={() => set(emptyValue(schema))}>Add {name}</button>
          ) : (
            <>
              {fieldsOf(schema).map((f) => (
                <Field key={f.name} name={f.name} schema={f.schema} value={value?.[f.name]} path={[...path, f.name]} required={f.required} ctx={ctx} />
              ))}
              {!required && <button type="button" className="link" onClick={() => set(undefined)}>remove {name}</button>}
            </>
          )}
        </fieldset>
      );
    case 'list': {
      const items: any[] = Array.isArray(value) ? value : [];
      const item = schema.items ?? {};
      return (
        <fieldset className="list">
          <legend title={help(schema)}>{name}{required && <span className="req">*</span>} <span className="count">{items.length}</span></legend>
          <Problems at={at} ctx={ctx} />
          {items.map((v, i) => (
            <div key={i} className="list-item">
              <Field name={`${name}[${i}]`} schema={item} value={v} path={[...path, i]} required ctx={ctx} />
              <button type="button" className="link" onClick={() => set(items.length === 1 && !required ? undefined : items.filter((_, j) => j !== i))}>remove</button>
            </div>
          ))}
          <button type="button" onClick={() => set([...items, emptyValue(item)])} data-testid={`add-${at}`}>Add</button>
        </fieldset>
      );
    }
    default:
      input = <JsonInput value={value} onCommit={set} id={id} />;
  }
  return (
    <div className="field">
      {label}
      {input}
      <Problems at={at} ctx={ctx} />
      {hint}
    </div>
  );
}

function JsonInput({ value, onCommit, id }: { value: unknown; onCommit: (v: unknown) => void; id: string }) {
  const text = value === undefined ? '' : JSON.stringify(value, null, 2);
  const [v, setV] = useState(text);
  const [err, setErr] = useState('');
  useEffect(() => setV(text), [text]);
  return (
    <>
      <textarea id={id} className="mono" rows={4} value={v} onChange={(e) => setV(e.target.value)} onBlur={() => {
        if (v.trim() === '') { setErr(''); onCommit(undefined); return; }
        try { onCommit(JSON.parse(v)); setErr(''); } catch (e) { setErr(String(e)); }
      }} />
      {err && <div className="field-problems">{err}</div>}
    </>
  );
}

export function NodePanel({ node, nodeSchema, nodeIds, problems, onChange, onRename, onDelete }: {
  node: any; nodeSchema: Schema; nodeIds: string[]; problems: NodeProblem[];
  onChange: (path: Path, v: unknown) => void; onRename: (to: string) => void; onDelete: () => void;
}) {
  const member = memberOf(node.type);
  const props = nodeSchema.properties ?? {};
  const ctx: Ctx = { nodeIds: nodeIds.filter((n) => n !== node.id), problems, onChange };
  // The type's own fields: its member, and the ways out it has.
  const links = ['next', 'onError', 'onTimeout'].filter((l) => {
    if (l === 'next') return node.type !== 'End' && node.type !== 'Condition' && node.type !== 'AIClassify';
    if (l === 'onError') return ['SendMessage', 'HTTPRequest', 'AIReply', 'AIClassify', 'AIExtract'].includes(node.type);
    return node.type === 'WaitForReply' || node.type === 'Handoff';
  });
  const shown = new Set(['id', 'type', 'next', 'onError', 'onTimeout', ...Object.keys(props).filter((k) => props[k].type === 'object' && k !== member)]);
  const others = Object.keys(props).filter((k) => !shown.has(k) && k !== member);
  return (
    <div className="panel" data-testid="node-panel">
      <h3><span className="badge">{node.type}</span> {node.id}</h3>
      <ul className="node-problems">
        {problems.map((p, i) => <li key={i}><code>{p.sub || 'node'}</code> {p.message}</li>)}
      </ul>
      <div className="field">
        <label htmlFor="node-id" title={help(props.id ?? {})}>id<span className="req">*</span></label>
        <TextInput value={node.id} onCommit={onRename} testid="node-id" />
        <Problems at="id" ctx={ctx} />
      </div>
      {links.map((l) => (
        <Field key={l} name={l} schema={props[l] ?? { type: 'string' }} value={node[l]} path={[l]} required={false} ctx={ctx} />
      ))}
      {others.map((k) => (
        <Field key={k} name={k} schema={props[k]} value={node[k]} path={[k]} required={false} ctx={ctx} />
      ))}
      {member && props[member] && (
        <Field name={member} schema={props[member]} value={node[member]} path={[member]} required ctx={ctx} />
      )}
      <button type="button" className="danger" onClick={onDelete} data-testid="delete-node">Delete node</button>
    </div>
  );
}

export function FlowPanel({ flow, schema, problems, nodeIds, onChange }: {
  flow: any; schema: Schema; problems: Problem[]; nodeIds: string[]; onChange: (path: Path, v: unknown) => void;
}) {
  const spec = schema.properties?.spec ?? {};
  const ctx: Ctx = {
    nodeIds, onChange: (p, v) => onChange(p, v),
    problems: problems.map((p) => ({ ...p, sub: p.field ?? '' })),
  };
  return (
    <div className="panel" data-testid="flow-panel">
      <h3>Flow {flow?.metadata?.name}</h3>
      <ul className="node-problems">
        {problems.map((p, i) => <li key={i}>{p.field && <code>{p.field}</code>} {p.message}</li>)}
      </ul>
      <div className="field">
        <label>metadata.name</label>
        <TextInput value={flow?.metadata?.name ?? ''} onCommit={(v) => onChange(['metadata', 'name'], v)} testid="flow-name" />
      </div>
      {fieldsOf(spec).filter((f) => f.name !== 'nodes').map((f) => (
        <Field key={f.name} name={f.name} schema={f.name === 'executor' ? {} : f.schema} value={flow?.spec?.[f.name]} path={['spec', f.name]} required={f.required} ctx={ctx} />
      ))}
    </div>
  );
}

export { LINK_FIELDS };
