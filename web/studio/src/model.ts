// The flow model of the canvas: pure functions over the ChatFlow object as
// the backend sends it (JSON), so that every field the studio does not show
// is carried along untouched and written back on save.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: any };

export type FlowNode = Obj & { id: string; type: string };

/** An outlet is one way out of a node: a handle on the canvas. */
export interface Outlet {
  /** Handle id, e.g. "next", "onError", "branch:0", "default", "target". */
  id: string;
  label: string;
  /** Where the target id is kept, relative to the node. */
  path: (string | number)[];
  kind: 'next' | 'branch' | 'timeout' | 'error' | 'jump';
}

export const NODE_TYPES = [
  'Start', 'End', 'SendMessage', 'WaitForReply', 'Condition',
  'SetVariables', 'HTTPRequest', 'Delay', 'Jump', 'Handoff',
  'AIReply', 'AIClassify', 'AIExtract', 'ForwardToFlow',
];

/** The member of a node type: sendMessage for SendMessage, ... */
export function memberOf(type: string): string | undefined {
  if (type === 'Start' || type === 'End') return undefined;
  if (type === 'HTTPRequest') return 'httpRequest';
  if (type.startsWith('AI')) return 'ai' + type.slice(2);
  return type.charAt(0).toLowerCase() + type.slice(1);
}

/** The outlets of a node, in the order of internal/graph: next, branches,
 * default, onTimeout, onError, jump target. */
export function outletsOf(n: FlowNode): Outlet[] {
  const out: Outlet[] = [];
  switch (n.type) {
    case 'End':
      return out;
    case 'Condition': {
      const branches: Obj[] = n.condition?.branches ?? [];
      branches.forEach((b, i) => out.push({
        id: `branch:${i}`, label: b.name || b.when || `branch ${i + 1}`,
        path: ['condition', 'branches', i, 'next'], kind: 'branch',
      }));
      out.push({ id: 'default', label: 'default', path: ['condition', 'default'], kind: 'branch' });
      return out;
    }
    case 'AIClassify': {
      const labels: Obj[] = n.aiClassify?.labels ?? [];
      labels.forEach((l, i) => out.push({
        id: `label:${i}`, label: l.name || `label ${i + 1}`,
        path: ['aiClassify', 'labels', i, 'next'], kind: 'branch',
      }));
      out.push({ id: 'default', label: 'default', path: ['aiClassify', 'default'], kind: 'branch' });
      out.push({ id: 'onError', label: 'error', path: ['onError'], kind: 'error' });
      return out;
    }
    case 'WaitForReply':
      out.push({ id: 'next', label: 'reply', path: ['next'], kind: 'next' });
      out.push({ id: 'onTimeout', label: 'timeout', path: ['onTimeout'], kind: 'timeout' });
      return out;
    case 'Handoff':
      out.push({ id: 'next', label: 'resumed', path: ['next'], kind: 'next' });
      out.push({ id: 'onTimeout', label: 'timeout', path: ['onTimeout'], kind: 'timeout' });
      return out;
    case 'ForwardToFlow':
      // Only a call (return: true) comes back to next; a forward ends here.
      if (n.forwardToFlow?.return) out.push({ id: 'next', label: 'returned', path: ['next'], kind: 'next' });
      return out;
    case 'Jump':
      out.push({ id: 'target', label: 'jump', path: ['jump', 'target'], kind: 'jump' });
      out.push({ id: 'next', label: 'then', path: ['next'], kind: 'next' });
      return out;
    case 'SendMessage':
    case 'HTTPRequest':
    case 'AIReply':
    case 'AIExtract':
      out.push({ id: 'next', label: 'next', path: ['next'], kind: 'next' });
      out.push({ id: 'onError', label: 'error', path: ['onError'], kind: 'error' });
      return out;
    default:
      out.push({ id: 'next', label: 'next', path: ['next'], kind: 'next' });
      return out;
  }
}

export function getPath(o: any, path: (string | number)[]): any {
  let cur = o;
  for (const p of path) {
    if (cur == null) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** setPath returns a copy of o with path set to v; undefined removes the
 * key (an emptied optional field leaves the YAML). */
export function setPath(o: any, path: (string | number)[], v: any): any {
  if (path.length === 0) return v;
  const [head, ...rest] = path;
  const copy: any = Array.isArray(o) ? [...o] : { ...(o ?? (typeof head === 'number' ? [] : {})) };
  const next = setPath(copy[head], rest, v);
  if (next === undefined && !Array.isArray(copy)) delete copy[head];
  else copy[head] = next;
  return copy;
}

export function nodesOf(flow: Obj): FlowNode[] {
  return flow?.spec?.nodes ?? [];
}

export function withNodes(flow: Obj, nodes: FlowNode[]): Obj {
  return setPath(flow, ['spec', 'nodes'], nodes);
}

export interface Edge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  kind: Outlet['kind'];
  label: string;
}

/** edgesOf links the outlets that name an existing node; dangling lists
 * the outlets that name a node that does not exist. */
export function edgesOf(flow: Obj): { edges: Edge[]; dangling: { node: string; outlet: string; target: string }[] } {
  const nodes = nodesOf(flow);
  const ids = new Set(nodes.map((n) => n.id));
  const edges: Edge[] = [];
  const dangling: { node: string; outlet: string; target: string }[] = [];
  for (const n of nodes) {
    for (const o of outletsOf(n)) {
      const t = getPath(n, o.path);
      if (typeof t !== 'string' || t === '') continue;
      if (!ids.has(t)) {
        dangling.push({ node: n.id, outlet: o.id, target: t });
        continue;
      }
      edges.push({ id: `${n.id}/${o.id}`, source: n.id, sourceHandle: o.id, target: t, kind: o.kind, label: o.kind === 'next' && o.label === 'next' ? '' : o.label });
    }
  }
  return { edges, dangling };
}

function nodeIndex(flow: Obj, id: string): number {
  return nodesOf(flow).findIndex((n) => n.id === id);
}

/** connect points an outlet of source at target. */
export function connect(flow: Obj, source: string, outlet: string, target: string | undefined): Obj {
  const i = nodeIndex(flow, source);
  if (i < 0) return flow;
  const n = nodesOf(flow)[i];
  const o = outletsOf(n).find((x) => x.id === outlet);
  if (!o) return flow;
  return setPath(flow, ['spec', 'nodes', i, ...o.path], target || undefined);
}

const SKELETONS: Record<string, Obj> = {
  SendMessage: { sendMessage: { text: 'Hello!' } },
  WaitForReply: { waitForReply: { timeout: '10m', saveAs: 'reply' } },
  Condition: { condition: { branches: [{ name: 'yes', when: 'message.text == "yes"' }] } },
  SetVariables: { setVariables: { variables: [{ name: 'source', value: 'studio' }] } },
  HTTPRequest: { httpRequest: { method: 'GET', url: 'https://api.example.com/v1/items' } },
  Delay: { delay: { duration: '5s' } },
  Jump: { jump: { maxJumps: 3 } },
  Handoff: { handoff: { queue: 'support' } },
  AIReply: { aiReply: { model: 'support-llm', systemPrompt: 'You are a helpful assistant. Answer in two sentences.' } },
  AIClassify: { aiClassify: { model: 'support-llm', labels: [{ name: 'question', description: 'a question about the service' }] } },
  AIExtract: { aiExtract: { model: 'support-llm', fields: [{ name: 'orderNumber', description: 'the order number', required: true }] } },
  ForwardToFlow: { forwardToFlow: { flowRef: { name: 'other-flow' }, return: true } },
};

/** A new node's id: the type in kebab case and the first free number. */
export function newId(flow: Obj, type: string): string {
  const base = type.replace(/^HTTP/, 'Http-').replace(/^AI/, 'Ai-').replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  const ids = new Set(nodesOf(flow).map((n) => n.id));
  for (let i = 1; ; i++) {
    const id = `${base}-${i}`;
    if (!ids.has(id)) return id;
  }
}

/** addNode appends a node of type (node order is kept: new ones last). */
export function addNode(flow: Obj, type: string): { flow: Obj; id: string } {
  const id = newId(flow, type);
  const node: FlowNode = { id, type, ...structuredClone(SKELETONS[type] ?? {}) };
  return { flow: withNodes(flow, [...nodesOf(flow), node]), id };
}

/** removeNode deletes a node and unsets every outlet that named it. */
export function removeNode(flow: Obj, id: string): Obj {
  let f = withNodes(flow, nodesOf(flow).filter((n) => n.id !== id));
  for (const n of nodesOf(f)) {
    for (const o of outletsOf(n)) {
      if (getPath(n, o.path) === id) f = connect(f, n.id, o.id, undefined);
    }
  }
  return f;
}

/** renameNode changes a node's id and every reference to it. */
export function renameNode(flow: Obj, from: string, to: string): Obj {
  if (from === to) return flow;
  let f = withNodes(flow, nodesOf(flow).map((n) => (n.id === from ? { ...n, id: to } : n)));
  for (const n of nodesOf(f)) {
    for (const o of outletsOf(n)) {
      if (getPath(n, o.path) === from) f = connect(f, n.id, o.id, to);
    }
  }
  return f;
}

export function updateNode(flow: Obj, id: string, path: (string | number)[], v: any): Obj {
  const i = nodeIndex(flow, id);
  if (i < 0) return flow;
  return setPath(flow, ['spec', 'nodes', i, ...path], v);
}

/** What a node does, in a few words: the second line on the canvas. */
export function detail(n: FlowNode, flow: Obj): string {
  const clip = (s: string) => (s.length > 60 ? s.slice(0, 59) + '…' : s);
  switch (n.type) {
    case 'Start': return flow?.spec?.trigger?.type ?? '';
    case 'SendMessage': {
      const m = n.sendMessage ?? {};
      if (m.template) return `template ${m.template.name ?? ''}`;
      return clip(m.text ?? (m.media ? String(m.media.type ?? 'media').toLowerCase() : ''));
    }
    case 'WaitForReply': {
      const w = n.waitForReply ?? {};
      return `wait ${w.timeout ?? '10m'}${w.saveAs ? ' → vars.' + w.saveAs : ''}`;
    }
    case 'SetVariables': return clip('set ' + (n.setVariables?.variables ?? []).map((v: Obj) => v.name).join(', '));
    case 'HTTPRequest': return clip(`${n.httpRequest?.method ?? 'GET'} ${(n.httpRequest?.url ?? '').replace(/^https?:\/\//, '')}`);
    case 'Delay': return `delay ${n.delay?.duration ?? ''}`;
    case 'Jump': return `at most ${n.jump?.maxJumps ?? 3}×`;
    case 'Handoff': return `hand off${n.handoff?.queue ? ' to ' + n.handoff.queue : ''}`;
    case 'AIReply': {
      const a = n.aiReply ?? {};
      return clip(a.saveAs ? `ask ${a.model ?? ''} → vars.${a.saveAs}` : `reply with ${a.model ?? ''}`);
    }
    case 'AIClassify': return clip(`classify with ${n.aiClassify?.model ?? ''}`);
    case 'AIExtract': return clip('extract ' + (n.aiExtract?.fields ?? []).map((f: Obj) => f.name).join(', '));
    case 'ForwardToFlow': {
      const f = n.forwardToFlow ?? {};
      return clip(`${f.return ? 'call' : 'forward to'} ${f.flowRef?.name ?? ''}`);
    }
  }
  return '';
}

export interface Problem {
  file?: string;
  line?: number;
  kind?: string;
  name?: string;
  field?: string;
  type?: string;
  message: string;
}

export interface NodeProblem extends Problem {
  /** The field under the node, e.g. "sendMessage.text" or "next". */
  sub: string;
}

const NODE_FIELD = /^spec\.nodes\[(\d+)\](?:\.(.*))?$/;

/** problemsByNode places problems of the flow on the node their field
 * path names (spec.nodes[3].next → the node at index 3); the rest are the
 * flow's own. Problems of other objects of the file are left out. */
export function problemsByNode(flow: Obj, problems: Problem[]): { byNode: Map<string, NodeProblem[]>; flowLevel: Problem[] } {
  const nodes = nodesOf(flow);
  const byNode = new Map<string, NodeProblem[]>();
  const flowLevel: Problem[] = [];
  const name = flow?.metadata?.name;
  for (const p of problems) {
    if (p.kind && p.kind !== 'ChatFlow') continue;
    if (p.name && name && p.name !== name) continue;
    const m = NODE_FIELD.exec(p.field ?? '');
    const n = m ? nodes[Number(m[1])] : undefined;
    if (!n) {
      flowLevel.push(p);
      continue;
    }
    const list = byNode.get(n.id) ?? [];
    list.push({ ...p, sub: m![2] ?? '' });
    byNode.set(n.id, list);
  }
  return { byNode, flowLevel };
}

/** outletOfField names the outlet a node-relative field path is, if any. */
export function outletOfField(n: FlowNode, sub: string): string | undefined {
  for (const o of outletsOf(n)) {
    const path = o.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
    if (sub === path) return o.id;
  }
  return undefined;
}

/** matches says whether a node matches a search: its id or any text in it. */
export function matches(n: FlowNode, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return false;
  return n.id.toLowerCase().includes(q) || JSON.stringify(n).toLowerCase().includes(q);
}
