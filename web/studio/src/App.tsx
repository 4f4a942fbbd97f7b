import {
  Background, Controls, ReactFlow, ReactFlowProvider, useReactFlow,
  type Connection, type Edge as RFEdge, type EdgeChange, type NodeChange, MarkerType,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, get, post } from './api';
import FlowNodeView, { TYPE_COLORS, type CanvasNode, type Counters } from './FlowNodeView';
import { History } from './history';
import { layout, type Positions } from './layout';
import {
  addNode, connect, detail, edgesOf, matches, NODE_TYPES, nodesOf, outletOfField, problemsByNode,
  removeNode, renameNode, setPath, updateNode, type Obj, type Problem,
} from './model';
import { FlowNodePanelWrapper } from './panels';
import { nodeSchema, type Schema } from './schema';

interface FileEntry { path: string; flows: string[] }
interface Info {
  root: string; files: FileEntry[]; nodeTypes: string[];
  templates: { name: string; description: string; triggers: string[] }[];
  live: { enabled: boolean; reason?: string; namespace?: string; context?: string; server?: string };
}
interface OpenFile { path: string; content: string; hash: string; flows: { name: string; object: Obj }[]; problems: Problem[]; tests?: string }

export type Doc =
  | { mode: 'file'; path: string; name: string; hash: string; tests?: string }
  | { mode: 'live'; namespace: string; name: string; live: any };

interface Snapshot { flow: Obj; positions: Positions }

const nodeTypes = { flow: FlowNodeView };

declare global {
  interface Window { __studio: any }
}
window.__studio = window.__studio ?? {};

export default function App() {
  return (
    <ReactFlowProvider>
      <Studio />
    </ReactFlowProvider>
  );
}

function Studio() {
  const rf = useReactFlow();
  const [info, setInfo] = useState<Info>();
  const [schema, setSchema] = useState<Schema>();
  const [doc, setDoc] = useState<Doc>();
  const [flow, setFlow] = useState<Obj>();
  const [positions, setPositions] = useState<Positions>({});
  const [problems, setProblems] = useState<Problem[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [search, setSearch] = useState('');
  const [banner, setBanner] = useState<{ kind: 'error' | 'ok' | 'info'; text: string; causes?: { field: string; message: string }[]; action?: { label: string; run: () => void } }>();
  const [modal, setModal] = useState<React.ReactNode>();
  const [tab, setTab] = useState<'props' | 'tests' | 'live' | 'chat'>('props');
  const [counters, setCounters] = useState<Record<string, Counters>>();
  const [liveFlows, setLiveFlows] = useState<any[]>([]);
  const [validating, setValidating] = useState(false);
  const history = useRef(new History<Snapshot>());
  const [, bump] = useState(0);

  // --- loading -----------------------------------------------------------
  useEffect(() => {
    Promise.all([get<Info>('/api/info'), get<Schema>('/api/schema')]).then(([i, s]) => {
      setInfo(i);
      setSchema(s);
      const q = new URLSearchParams(window.location.search);
      if (q.get('file')) openFile(q.get('file')!, q.get('flow') ?? undefined);
      else if (q.get('live')) {
        const [ns, name] = q.get('live')!.split('/');
        openLive(ns, name);
      } else if (i.files.length > 0) openFile(i.files[0].path, i.files[0].flows[0]);
      if (i.live.enabled) refreshLiveFlows();
    }).catch((e) => setBanner({ kind: 'error', text: String(e.message ?? e) }));
  }, []);

  const show = useCallback((f: Obj, d: Doc, probs: Problem[]) => {
    const t0 = performance.now();
    const pos = layout(f);
    window.__studio.layoutMs = performance.now() - t0;
    history.current.clear();
    setDoc(d);
    setFlow(f);
    setPositions(pos);
    setProblems(probs);
    setSelected(null);
    setDirty(false);
    setCounters(undefined);
    setBanner(undefined);
    window.__studio.opened = { nodes: nodesOf(f).length, at: performance.now() };
    requestAnimationFrame(() => rf.fitView({ padding: 0.1 }));
  }, [rf]);

  const openFile = useCallback(async (path: string, name?: string) => {
    try {
      const f = await get<OpenFile>(`/api/file?path=${encodeURIComponent(path)}`);
      const fl = f.flows.find((x) => !name || x.name === name) ?? f.flows[0];
      if (!fl) throw new Error(`${path} has no ChatFlow`);
      show(fl.object, { mode: 'file', path: f.path, name: fl.name, hash: f.hash, tests: f.tests }, f.problems);
      setTab('props');
    } catch (e: any) {
      setBanner({ kind: 'error', text: e.message });
    }
  }, [show]);

  const openLive = useCallback(async (ns: string, name: string) => {
    try {
      const l = await get<any>(`/api/live/flow?namespace=${encodeURIComponent(ns)}&name=${encodeURIComponent(name)}`);
      show(l.object, { mode: 'live', namespace: ns, name, live: l }, []);
      setTab('live');
    } catch (e: any) {
      setBanner({ kind: 'error', text: e.message });
    }
  }, [show]);

  const refreshLive = useCallback(async () => {
    if (doc?.mode !== 'live') return;
    const l = await get<any>(`/api/live/flow?namespace=${encodeURIComponent(doc.namespace)}&name=${encodeURIComponent(doc.name)}`);
    setDoc({ ...doc, live: l });
    return l;
  }, [doc]);

  const refreshLiveFlows = useCallback(async () => {
    try {
      const r = await get<any>('/api/live/flows');
      setLiveFlows(r.flows);
    } catch (e: any) {
      setLiveFlows([]);
    }
  }, []);

  // --- editing -----------------------------------------------------------
  const snapshot = (): Snapshot => ({ flow: flow!, positions });
  // Validation as you edit: the backend lints the file as it would be saved.
  // An edit is checked at once (text fields commit on blur or Enter, so an
  // edit is a change the user made), and its check is sent as the edit is
  // made, so that the backend works while the browser draws the edit; edits
  // made while a check is on its way wait a little, so that a burst of them
  // (undo held down) is one check.
  const seq = useRef(0);
  const checking = useRef(0);
  const sent = useRef<{ flow: Obj; at: number; reply: Promise<{ problems: Problem[] }> }>(undefined);
  const check = (f: Obj, d: Doc) => d.mode === 'file'
    ? post<{ problems: Problem[] }>('/api/validate', { path: d.path, name: d.name, object: f })
    : post<{ problems: Problem[] }>('/api/live/validate', { object: f });
  const changeTo = (next: Obj) => {
    if (next !== flow && doc && checking.current === 0) {
      const reply = check(next, doc);
      reply.catch(() => { /* reported where it is awaited */ });
      sent.current = { flow: next, at: performance.now(), reply };
    }
    setFlow(next);
  };

  const edit = useCallback((next: Obj, pos?: Positions) => {
    history.current.record({ flow: flow!, positions });
    window.__studio.editAt = performance.now();
    changeTo(next);
    if (pos) setPositions(pos);
    setDirty(true);
  }, [flow, positions, doc]);

  const undo = () => {
    const s = history.current.undo(snapshot());
    if (s) { changeTo(s.flow); setPositions(s.positions); setDirty(true); bump((x) => x + 1); }
  };
  const redo = () => {
    const s = history.current.redo(snapshot());
    if (s) { changeTo(s.flow); setPositions(s.positions); setDirty(true); bump((x) => x + 1); }
  };

  // The flow being edited, for the browser tests and the console.
  useEffect(() => { window.__studio.flow = flow; }, [flow]);

  useEffect(() => {
    if (!flow || !doc || !dirty) return;
    const my = ++seq.current;
    const early = sent.current?.flow === flow ? sent.current : undefined;
    sent.current = undefined;
    const t = setTimeout(async () => {
      setValidating(true);
      checking.current++;
      const t0 = early?.at ?? performance.now();
      try {
        const r = await (early?.reply ?? check(flow, doc));
        if (my !== seq.current) return;
        setProblems(r.problems);
        const editAt = window.__studio.editAt ?? t0;
        window.__studio.validated = { at: performance.now(), editAt, requestMs: performance.now() - t0, sinceEdit: performance.now() - editAt, problems: r.problems.length, seq: my };
      } catch (e: any) {
        if (my === seq.current) setBanner({ kind: 'error', text: e.message });
      } finally {
        checking.current--;
        if (my === seq.current) setValidating(false);
      }
    }, early || checking.current === 0 ? 0 : 60);
    return () => clearTimeout(t);
  }, [flow, doc, dirty]);

  // Counters of a live flow, refreshed while it is open.
  useEffect(() => {
    if (doc?.mode !== 'live') return;
    let stop = false;
    const tick = async () => {
      try {
        const r = await get<any>(`/api/live/counters?namespace=${encodeURIComponent(doc.namespace)}&name=${encodeURIComponent(doc.name)}`);
        if (!stop) setCounters(r.replicas > 0 ? r.nodes : undefined);
      } catch { /* no executor yet */ }
    };
    tick();
    const h = setInterval(tick, 5000);
    return () => { stop = true; clearInterval(h); };
  }, [doc?.mode, doc?.mode === 'live' ? doc.name : '']);

  // --- the canvas --------------------------------------------------------
  const { byNode, flowLevel } = useMemo(() => problemsByNode(flow ?? {}, problems), [flow, problems]);
  const graph = useMemo(() => (flow ? edgesOf(flow) : { edges: [], dangling: [] }), [flow]);

  // Canvas nodes are rebuilt only where something of theirs changed, so
  // that an edit of one node of 500 re-renders one node, not 500.
  const nodeCache = useRef(new Map<string, { n: Obj; probs: string; outs: string; sel: boolean; match: boolean; search: string; ctr: string; pos: any; rf: CanvasNode }>());
  const rfNodes: CanvasNode[] = useMemo(() => {
    if (!flow) return [];
    const bad = new Map<string, Set<string>>();
    for (const d of graph.dangling) {
      if (!bad.has(d.node)) bad.set(d.node, new Set());
      bad.get(d.node)!.add(d.outlet);
    }
    const cache = nodeCache.current;
    const seen = new Set<string>();
    const out = nodesOf(flow).map((n) => {
      seen.add(n.id);
      const ps = byNode.get(n.id) ?? [];
      const outs = new Set(bad.get(n.id) ?? []);
      for (const p of ps) {
        const o = outletOfField(n, p.sub);
        if (o) outs.add(o);
      }
      const probs = ps.length ? JSON.stringify(ps.map((p) => [p.sub, p.message])) : '';
      const outsKey = [...outs].join(',');
      const sel = n.id === selected;
      const ctr = counters ? JSON.stringify(counters[n.id] ?? null) : '';
      const pos = positions[n.id] ?? { x: 0, y: 0 };
      const prev = cache.get(n.id);
      const match = prev && prev.n === n && prev.search === search ? prev.match : matches(n, search);
      if (prev && prev.n === n && prev.probs === probs && prev.outs === outsKey && prev.sel === sel && prev.match === match && prev.ctr === ctr && prev.pos === pos) {
        return prev.rf;
      }
      const rf: CanvasNode = {
        id: n.id, type: 'flow' as const, position: pos, selected: sel,
        data: { node: n, detail: detail(n, flow), problems: ps, badOutlets: outs, match, counters: counters?.[n.id] ?? (counters ? { entered: 0, errors: 0, waiting: 0 } : undefined) },
      };
      cache.set(n.id, { n, probs, outs: outsKey, sel, match, search, ctr, pos, rf });
      return rf;
    });
    for (const k of [...cache.keys()]) if (!seen.has(k)) cache.delete(k);
    return out;
  }, [flow, positions, byNode, graph, selected, search, counters]);

  const rfEdges: RFEdge[] = useMemo(() => graph.edges.map((e) => ({
    id: e.id, source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: 'in',
    label: e.label || undefined, className: `edge-${e.kind}`,
    markerEnd: { type: MarkerType.ArrowClosed },
    animated: e.kind === 'jump',
  })), [graph]);

  useEffect(() => {
    if (rfNodes.length && window.__studio.opened && !window.__studio.opened.rendered) {
      requestAnimationFrame(() => { window.__studio.opened.rendered = performance.now(); });
    }
  }, [rfNodes]);
  // When the problems of a check are on the canvas, for the browser tests.
  useEffect(() => {
    const v = window.__studio.validated;
    if (v && v.shown === undefined) {
      requestAnimationFrame(() => { v.shown = performance.now() - v.editAt; });
    }
  }, [rfNodes, problems]);

  const onNodesChange = useCallback((changes: NodeChange<CanvasNode>[]) => {
    let pos = positions;
    let moved = false;
    for (const c of changes) {
      if (c.type === 'position' && c.position) {
        if (!moved) { pos = { ...positions }; moved = true; }
        pos[c.id] = c.position;
      } else if (c.type === 'select' && c.selected) {
        setSelected(c.id);
        setTab('props');
      } else if (c.type === 'remove') {
        edit(removeNode(flow!, c.id));
        setSelected(null);
      }
    }
    if (moved) setPositions(pos);
  }, [positions, flow, edit]);

  const dragStart = useRef<Positions | undefined>(undefined);
  const onNodeDragStart = useCallback(() => { dragStart.current = positions; }, [positions]);
  const onNodeDragStop = useCallback(() => {
    if (dragStart.current) history.current.record({ flow: flow!, positions: dragStart.current });
    dragStart.current = undefined;
    bump((x) => x + 1);
  }, [flow]);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    let f = flow!;
    for (const c of changes) {
      if (c.type === 'remove') {
        const [src, outlet] = c.id.split('/');
        f = connect(f, src, outlet, undefined);
      }
    }
    if (f !== flow) edit(f);
  }, [flow, edit]);

  const onConnect = useCallback((c: Connection) => {
    if (!c.source || !c.target || !c.sourceHandle) return;
    edit(connect(flow!, c.source, c.sourceHandle, c.target));
  }, [flow, edit]);

  const add = useCallback((type: string, at?: { x: number; y: number }) => {
    const r = addNode(flow!, type);
    const center = at ?? rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
    edit(r.flow, { ...positions, [r.id]: center });
    setSelected(r.id);
    setTab('props');
  }, [flow, positions, edit, rf]);

  const onDrop = useCallback((e: React.DragEvent) => {
    e.preventDefault();
    const type = e.dataTransfer.getData('application/x-chatflow-node');
    if (type) add(type, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  }, [add, rf]);

  const focusSearch = () => {
    const n = nodesOf(flow ?? {}).find((x) => matches(x, search));
    if (!n) return;
    setSelected(n.id);
    const p = positions[n.id];
    if (p) rf.setCenter(p.x + 120, p.y + 40, { zoom: 1, duration: 300 });
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
      if ((e.ctrlKey || e.metaKey) && e.key === 'z') { e.preventDefault(); e.shiftKey ? redo() : undo(); }
      if ((e.ctrlKey || e.metaKey) && e.key === 'y') { e.preventDefault(); redo(); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  // --- saving, applying --------------------------------------------------
  const save = async () => {
    if (doc?.mode !== 'file') return;
    try {
      const r = await post<{ content: string; diff: string }>('/api/render', { path: doc.path, name: doc.name, object: flow });
      setModal(
        <div className="modal" data-testid="diff-modal">
          <h3>Save {doc.path}</h3>
          {r.diff ? <pre className="diff">{r.diff.split('\n').map((l, i) => <div key={i} className={l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : ''}>{l}</div>)}</pre> : <p>No change.</p>}
          <div className="buttons">
            <button onClick={() => setModal(undefined)}>Cancel</button>
            <button className="primary" data-testid="confirm-save" onClick={async () => {
              try {
                const saved = await post<OpenFile>('/api/save', { path: doc.path, name: doc.name, object: flow, hash: doc.hash });
                const name = flow?.metadata?.name ?? doc.name;
                setDoc({ ...doc, hash: saved.hash, name, tests: saved.tests });
                setProblems(saved.problems);
                setDirty(false);
                setModal(undefined);
                setBanner({ kind: saved.problems.length ? 'info' : 'ok', text: `Saved ${doc.path}${saved.problems.length ? ` (chatflow lint: ${saved.problems.length} problems)` : ' — chatflow lint: no problems'}` });
                get<Info>('/api/info').then(setInfo);
              } catch (e: any) {
                setModal(undefined);
                setBanner({ kind: 'error', text: e.message });
              }
            }}>Save</button>
          </div>
        </div>,
      );
    } catch (e: any) {
      setBanner({ kind: 'error', text: e.message });
    }
  };

  const kubeFailure = (e: any, retryForced?: () => void) => {
    if (e instanceof ApiError && e.body?.kube) {
      // A conflict is a field another manager (kubectl, GitOps) set: the
      // user may take it over, as kubectl apply --force-conflicts does.
      const action = e.status === 409 && retryForced ? { label: 'Force apply (take over these fields)', run: retryForced } : undefined;
      setBanner({ kind: 'error', text: e.message, causes: e.body.causes, action });
      // Field causes become problems on the nodes they name.
      setProblems((e.body.causes ?? []).filter((c: any) => c.field).map((c: any) => ({ field: c.field, message: c.message, type: c.type })));
    } else setBanner({ kind: 'error', text: e.message });
  };

  const apply = async (force = false) => {
    if (doc?.mode !== 'live') return;
    try {
      await post('/api/live/apply', { object: flow, force });
      setDirty(false);
      setBanner({ kind: 'ok', text: `Applied ${doc.namespace}/${flow?.metadata?.name} (server-side apply as you)` });
      await refreshLive();
    } catch (e: any) {
      kubeFailure(e, force ? undefined : () => apply(true));
    }
  };

  const setState = async (state: string) => {
    if (doc?.mode !== 'live') return;
    try {
      await post('/api/live/state', { namespace: doc.namespace, name: doc.name, state });
      setBanner({ kind: 'ok', text: `${state === 'Published' ? 'Publishing' : 'Unpublishing'} ${doc.name}` });
      const l = await refreshLive();
      if (l) { setFlow(l.object); setDirty(false); }
      setTab('live');
      refreshLiveFlows();
    } catch (e: any) {
      kubeFailure(e);
    }
  };

  const del = async () => {
    if (doc?.mode !== 'live') return;
    try {
      await post('/api/live/delete', { namespace: doc.namespace, name: doc.name });
      setBanner({ kind: 'ok', text: `Deleted ${doc.namespace}/${doc.name}` });
      setFlow(undefined);
      setDoc(undefined);
      refreshLiveFlows();
    } catch (e: any) {
      kubeFailure(e);
    }
  };

  const download = async () => {
    if (doc?.mode !== 'file') return;
    try {
      const r = await post<{ name: string; content: string }>('/api/export', { path: doc.path, name: doc.name, object: flow });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([r.content], { type: 'application/json' }));
      a.download = r.name;
      a.click();
      window.__studio.exported = r.content;
    } catch (e: any) {
      setBanner({ kind: 'error', text: e.message });
    }
  };

  if (!info || !schema) return <div className="loading">{banner?.text ?? 'Loading…'}</div>;
  const ns = nodeSchema(schema)!;
  const nodeIds = nodesOf(flow ?? {}).map((n) => n.id);
  const selectedNode = nodesOf(flow ?? {}).find((n) => n.id === selected);
  const actions = doc?.mode === 'live' ? doc.live.actions : undefined;

  return (
    <div className="app">
      <header className="toolbar">
        <strong className="brand">Chatflow Studio</strong>
        <select data-testid="open-file" value={doc?.mode === 'file' ? `${doc.path}#${doc.name}` : ''} onChange={(e) => { const [p, n] = e.target.value.split('#'); if (p) openFile(p, n); }}>
          <option value="">Open a file…</option>
          {info.files.flatMap((f) => f.flows.map((n) => <option key={`${f.path}#${n}`} value={`${f.path}#${n}`}>{f.path}{f.flows.length > 1 ? ` (${n})` : ''}</option>))}
        </select>
        {info.live.enabled && (
          <select data-testid="open-live" value={doc?.mode === 'live' ? `${doc.namespace}/${doc.name}` : ''} onFocus={refreshLiveFlows} onChange={(e) => { const [n, m] = e.target.value.split('/'); if (m) openLive(n, m); }}>
            <option value="">Cluster ({info.live.namespace})…</option>
            {liveFlows.map((f) => <option key={`${f.namespace}/${f.name}`} value={`${f.namespace}/${f.name}`}>{f.name} — {f.state || 'Unpublished'}{f.ready === 'True' ? ', Ready' : ''}</option>)}
          </select>
        )}
        <button onClick={() => setModal(<NewModal info={info} onDone={(f) => { setModal(undefined); get<Info>('/api/info').then(setInfo); openFile(f.path); }} onCancel={() => setModal(undefined)} />)}>New…</button>
        <button onClick={() => setModal(<ImportModal onDone={(f, report) => { setModal(undefined); get<Info>('/api/info').then(setInfo); openFile(f.path); if (report.length) setBanner({ kind: 'info', text: report.join('\n') }); }} onCancel={() => setModal(undefined)} />)}>Import…</button>
        <span className="sep" />
        <button onClick={undo} disabled={!history.current.canUndo} data-testid="undo">Undo</button>
        <button onClick={redo} disabled={!history.current.canRedo} data-testid="redo">Redo</button>
        <button data-testid="relayout" onClick={() => { if (flow) { edit(flow, layout(flow)); requestAnimationFrame(() => rf.fitView({ padding: 0.1 })); } }} disabled={!flow}>Re-layout</button>
        <input className="search" placeholder="Search node id or text" value={search} data-testid="search" onChange={(e) => setSearch(e.target.value)} onKeyDown={(e) => { if (e.key === 'Enter') focusSearch(); }} />
        <span className="sep" />
        {doc?.mode === 'file' && (
          <>
            <button className="primary" onClick={save} disabled={!dirty} data-testid="save">Save…</button>
            <button onClick={download} data-testid="export">Export JSON</button>
          </>
        )}
        {doc?.mode === 'live' && (
          <>
            <button className="primary" onClick={() => apply(false)} disabled={!dirty || !actions?.apply.allowed} title={actions?.apply.reason} data-testid="apply">Apply</button>
            <button onClick={() => setState('Published')} disabled={!actions?.publish.allowed} title={actions?.publish.reason} data-testid="publish">Publish</button>
            <button onClick={() => setState('Unpublished')} disabled={!actions?.unpublish.allowed} title={actions?.unpublish.reason} data-testid="unpublish">Unpublish</button>
            <button className="danger" onClick={del} disabled={!actions?.delete.allowed} title={actions?.delete.reason} data-testid="delete-flow">Delete</button>
          </>
        )}
        <span className="status" data-testid="status">{doc ? (doc.mode === 'file' ? doc.path : `${doc.namespace}/${doc.name} (live)`) : ''}{dirty ? ' • edited' : ''}{validating ? ' • checking…' : ''} {flow && (problems.length ? <span className="bad" data-testid="problem-count">{problems.length} problems</span> : <span className="good" data-testid="problem-count">no problems</span>)}</span>
      </header>
      {banner && (
        <div className={`banner ${banner.kind}`} data-testid="banner">
          <span>{banner.text}</span>
          {banner.causes && banner.causes.length > 0 && <ul>{banner.causes.map((c, i) => <li key={i}><code>{c.field}</code> {c.message}</li>)}</ul>}
          {banner.action && <button data-testid="banner-action" onClick={banner.action.run}>{banner.action.label}</button>}
          <button className="link" onClick={() => setBanner(undefined)}>dismiss</button>
        </div>
      )}
      <div className="main">
        <aside className="palette" data-testid="palette">
          <h4>Components</h4>
          {NODE_TYPES.map((t) => (
            <div key={t} className="palette-item" draggable data-testid={`palette-${t}`}
              onDragStart={(e) => { e.dataTransfer.setData('application/x-chatflow-node', t); e.dataTransfer.effectAllowed = 'move'; }}
              onClick={() => flow && add(t)} title={`Drag onto the canvas, or click to add a ${t} node`}>
              {t}
            </div>
          ))}
          {flowLevel.length > 0 && (
            <div className="flow-problems">
              <h4>Flow problems</h4>
              <ul>{flowLevel.map((p, i) => <li key={i}>{p.field && <code>{p.field}</code>} {p.message}</li>)}</ul>
            </div>
          )}
        </aside>
        <div className="canvas" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }} onDrop={onDrop} data-testid="canvas">
          <ReactFlow
            nodes={rfNodes} edges={rfEdges} nodeTypes={nodeTypes}
            onNodesChange={onNodesChange} onEdgesChange={onEdgesChange} onConnect={onConnect}
            onNodeDragStart={onNodeDragStart} onNodeDragStop={onNodeDragStop}
            onPaneClick={() => { setSelected(null); setTab('props'); }}
            minZoom={0.05} maxZoom={2} onlyRenderVisibleElements={rfNodes.length > 200}
            deleteKeyCode={['Delete', 'Backspace']} fitView proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        <aside className="side">
          <nav className="tabs">
            <button className={tab === 'props' && !selected ? 'on' : ''} onClick={() => { setSelected(null); setTab('props'); }} data-testid="tab-flow">Flow</button>
            <button className={tab === 'props' && selected ? 'on' : ''} onClick={() => setTab('props')} disabled={!selected}>Node</button>
            {doc?.mode === 'file' && <button className={tab === 'tests' ? 'on' : ''} onClick={() => setTab('tests')} data-testid="tab-tests">Tests</button>}
            {doc?.mode === 'live' && <button className={tab === 'live' ? 'on' : ''} onClick={() => setTab('live')} data-testid="tab-live">Status</button>}
            {doc?.mode === 'live' && <button className={tab === 'chat' ? 'on' : ''} onClick={() => setTab('chat')} data-testid="tab-chat">Chat</button>}
          </nav>
          {flow && doc && (
            <FlowNodePanelWrapper
              tab={tab} doc={doc} flow={flow} schema={schema} nodeSchema={ns} node={selectedNode} nodeIds={nodeIds}
              byNode={byNode} flowLevel={flowLevel}
              onNodeChange={(path, v) => edit(updateNode(flow, selected!, path, v))}
              onRename={(to) => { edit(renameNode(flow, selected!, to), Object.fromEntries(Object.entries(positions).map(([k, p]) => [k === selected ? to : k, p]))); setSelected(to); }}
              onDelete={() => { edit(removeNode(flow, selected!)); setSelected(null); }}
              onFlowChange={(path, v) => edit(setPath(flow, path, v))}
            />
          )}
        </aside>
      </div>
      {modal && <div className="overlay">{modal}</div>}
    </div>
  );
}

function NewModal({ info, onDone, onCancel }: { info: Info; onDone: (f: OpenFile) => void; onCancel: () => void }) {
  const [template, setTemplate] = useState(info.templates[0]?.name ?? '');
  const [name, setName] = useState('');
  const [trigger, setTrigger] = useState('');
  const [err, setErr] = useState('');
  const t = info.templates.find((x) => x.name === template);
  return (
    <div className="modal" data-testid="new-modal">
      <h3>New flow from a template</h3>
      <label>Template <select value={template} onChange={(e) => setTemplate(e.target.value)}>{info.templates.map((x) => <option key={x.name} value={x.name}>{x.name}</option>)}</select></label>
      <p className="help">{t?.description}</p>
      <label>Trigger <select value={trigger} onChange={(e) => setTrigger(e.target.value)}><option value="">(default: {t?.triggers[0]})</option>{t?.triggers.map((x) => <option key={x}>{x}</option>)}</select></label>
      <label>Name <input value={name} onChange={(e) => setName(e.target.value)} placeholder="my-flow" data-testid="new-name" /></label>
      <p className="help">Writes NAME.yaml and NAME.test.yaml, as chatflow new does.</p>
      {err && <div className="field-problems">{err}</div>}
      <div className="buttons">
        <button onClick={onCancel}>Cancel</button>
        <button className="primary" data-testid="new-create" onClick={async () => {
          try { onDone(await post<OpenFile>('/api/new', { template, name, trigger })); } catch (e: any) { setErr(e.message); }
        }}>Create</button>
      </div>
    </div>
  );
}

function ImportModal({ onDone, onCancel }: { onDone: (f: OpenFile, report: string[]) => void; onCancel: () => void }) {
  const [from, setFrom] = useState('chatflow');
  const [data, setData] = useState('');
  const [name, setName] = useState('');
  const [trigger, setTrigger] = useState('');
  const [err, setErr] = useState('');
  return (
    <div className="modal" data-testid="import-modal">
      <h3>Import a flow</h3>
      <label>Format <select value={from} onChange={(e) => setFrom(e.target.value)}>
        <option value="chatflow">Chatflow portable JSON (chatflow export)</option>
        <option value="twilio-studio">Twilio Studio flow definition</option>
      </select></label>
      <label>File <input type="file" accept=".json" onChange={async (e) => { const f = e.target.files?.[0]; if (f) setData(await f.text()); }} /></label>
      <textarea className="mono" rows={8} value={data} onChange={(e) => setData(e.target.value)} placeholder="or paste the JSON here" data-testid="import-data" />
      <label>Name <input value={name} onChange={(e) => setName(e.target.value)} placeholder={from === 'twilio-studio' ? 'required' : 'optional'} data-testid="import-name" /></label>
      {from === 'twilio-studio' && <label>Trigger <select value={trigger} onChange={(e) => setTrigger(e.target.value)}><option value="">(from the flow)</option>{['WhatsApp', 'Messenger', 'Instagram', 'Viber', 'Manual'].map((x) => <option key={x}>{x}</option>)}</select></label>}
      {err && <div className="field-problems">{err}</div>}
      <div className="buttons">
        <button onClick={onCancel}>Cancel</button>
        <button className="primary" data-testid="import-go" onClick={async () => {
          try {
            const r = await post<{ file: OpenFile; report: string[] }>('/api/import', { from, data, name, trigger });
            onDone(r.file, r.report);
          } catch (e: any) { setErr(e.message); }
        }}>Import</button>
      </div>
    </div>
  );
}
