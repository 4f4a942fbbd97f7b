import { useEffect, useRef, useState } from 'react';
import { get, post } from './api';
import type { Doc } from './App';
import type { NodeProblem, Obj, Problem } from './model';
import { FlowPanel, NodePanel } from './PropertyPanel';
import type { Schema } from './schema';

type Path = (string | number)[];

export function FlowNodePanelWrapper(p: {
  tab: string; doc: Doc; flow: Obj; schema: Schema; nodeSchema: Schema; node?: Obj; nodeIds: string[];
  byNode: Map<string, NodeProblem[]>; flowLevel: Problem[];
  onNodeChange: (path: Path, v: unknown) => void; onRename: (to: string) => void; onDelete: () => void;
  onFlowChange: (path: Path, v: unknown) => void;
}) {
  switch (p.tab) {
    case 'tests':
      return p.doc.mode === 'file' ? <TestsPanel doc={p.doc} flow={p.flow} /> : null;
    case 'live':
      return p.doc.mode === 'live' ? <LivePanel doc={p.doc} /> : null;
    case 'chat':
      return p.doc.mode === 'live' ? <ChatPanel doc={p.doc} flow={p.flow} /> : null;
  }
  if (p.node) {
    return (
      <NodePanel key={p.node.id} node={p.node} nodeSchema={p.nodeSchema} nodeIds={p.nodeIds}
        problems={p.byNode.get(p.node.id) ?? []} onChange={p.onNodeChange} onRename={p.onRename} onDelete={p.onDelete} />
    );
  }
  return <FlowPanel flow={p.flow} schema={p.schema} problems={p.flowLevel} nodeIds={p.nodeIds} onChange={p.onFlowChange} />;
}

interface TestResult { name: string; line: number; passed: boolean; failure?: string }

/** The flow's transcript tests (NAME.test.yaml), run by the backend with
 * internal/transcript against the flow as edited. */
function TestsPanel({ doc, flow }: { doc: Extract<Doc, { mode: 'file' }>; flow: Obj }) {
  const [res, setRes] = useState<{ tests: string; results: TestResult[]; passed: number; failed: number }>();
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setErr('');
    try {
      setRes(await post('/api/test', { path: doc.path, name: doc.name, object: flow }));
    } catch (e: any) {
      setRes(undefined);
      setErr(e.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel" data-testid="tests-panel">
      <h3>Transcript tests</h3>
      <p className="help">{doc.tests ? `${doc.tests}, run against the flow as edited (chatflow test).` : 'This flow has no NAME.test.yaml beside it.'}</p>
      <button className="primary" onClick={run} disabled={busy} data-testid="run-tests">{busy ? 'Running…' : 'Run tests'}</button>
      {err && <pre className="field-problems">{err}</pre>}
      {res && (
        <>
          <p data-testid="test-summary" className={res.failed ? 'bad' : 'good'}>{res.passed} passed, {res.failed} failed</p>
          <ul className="tests">
            {res.results.map((r) => (
              <li key={r.name} className={r.passed ? 'good' : 'bad'}>
                {r.passed ? '✔' : '✘'} {r.name}
                {r.failure && <pre>{r.failure}</pre>}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function LivePanel({ doc }: { doc: Extract<Doc, { mode: 'live' }> }) {
  const l = doc.live;
  const st = l.status ?? {};
  return (
    <div className="panel" data-testid="live-panel">
      <h3>{doc.namespace}/{doc.name}</h3>
      <table className="kv">
        <tbody>
          <tr><th>Desired state</th><td data-testid="live-state">{l.summary.state || 'Unpublished'}</td></tr>
          <tr><th>Live</th><td>{st.state ?? '—'}</td></tr>
          <tr><th>Revision</th><td><code>{st.revision ?? '—'}</code></td></tr>
          <tr><th>Generation</th><td>{l.object?.metadata?.generation} (observed {st.observedGeneration ?? '—'})</td></tr>
          <tr><th>Executor</th><td>{st.executor ? `${st.executor.readyReplicas ?? 0}/${st.executor.replicas ?? 0} ready` : '—'}</td></tr>
        </tbody>
      </table>
      <h4>Conditions</h4>
      <ul className="conditions" data-testid="conditions">
        {(st.conditions ?? []).map((c: any) => (
          <li key={c.type} className={c.status === 'True' ? (c.type === 'Stalled' || c.type === 'Reconciling' ? 'bad' : 'good') : ''}>
            <strong>{c.type}</strong> {c.status} <em>{c.reason}</em><br /><small>{c.message}</small>
          </li>
        ))}
      </ul>
      <h4>Bindings</h4>
      <ul data-testid="bindings">
        {l.bindings.length === 0 && <li>none</li>}
        {l.bindings.map((b: any) => (
          <li key={b.name}>
            <strong>{b.name}</strong> {b.channel} {b.account?.name ?? ''} <code>{b.account?.id}</code> — Ready {b.ready}
            <button disabled={!l.actions.rebind.allowed} title={l.actions.rebind.reason}>Rebind…</button>
          </li>
        ))}
      </ul>
      <h4>What you may do</h4>
      <ul className="actions" data-testid="actions">
        {Object.entries(l.actions as Record<string, { allowed: boolean; reason?: string }>).map(([k, a]) => (
          <li key={k} className={a.allowed ? 'good' : 'bad'}>{k}: {a.allowed ? 'yes' : a.reason}</li>
        ))}
      </ul>
    </div>
  );
}

interface Reply { Lines: string[]; Choices: { Title: string; ID: string }[] | null }

/** Chat with the published flow through chatflow dev's sandbox. */
function ChatPanel({ doc, flow }: { doc: Extract<Doc, { mode: 'live' }>; flow: Obj }) {
  const [id, setId] = useState<string>();
  const [lines, setLines] = useState<{ who: 'you' | 'bot' | 'note'; text: string; choices?: string[] }[]>([]);
  const [text, setText] = useState('');
  const [err, setErr] = useState('');
  const [inputs, setInputs] = useState('');
  const alive = useRef(true);
  useEffect(() => () => { alive.current = false; }, []);
  const manual = flow?.spec?.trigger?.type === 'Manual';

  useEffect(() => {
    if (!id) return;
    let stop = false;
    (async () => {
      while (!stop && alive.current) {
        try {
          const r = await get<{ replies: Reply[] }>(`/api/chat/replies?id=${id}&wait=20`);
          if (stop) return;
          setLines((ls) => [...ls, ...r.replies.map((x) => ({ who: 'bot' as const, text: x.Lines.join('\n'), choices: (x.Choices ?? []).map((c) => c.Title) }))]);
        } catch (e: any) {
          if (!stop) setErr(e.message);
          return;
        }
      }
    })();
    return () => { stop = true; };
  }, [id]);

  const start = async () => {
    setErr('');
    try {
      const parsed: Record<string, string> = {};
      for (const kv of inputs.split('\n')) {
        const [k, ...v] = kv.split('=');
        if (k.trim()) parsed[k.trim()] = v.join('=');
      }
      const r = await post<{ id: string; channel: string; contact: string }>('/api/chat/start', { namespace: doc.namespace, name: doc.name, inputs: parsed });
      setLines([{ who: 'note', text: `Chatting on ${r.channel} as contact ${r.contact}` }]);
      setId(r.id);
    } catch (e: any) {
      setErr(e.message);
    }
  };
  const say = async (t: string) => {
    if (!id || !t) return;
    setLines((ls) => [...ls, { who: 'you', text: t }]);
    setText('');
    try {
      await post('/api/chat/send', { id, text: t });
    } catch (e: any) {
      setErr(e.message);
    }
  };
  return (
    <div className="panel chat" data-testid="chat-panel">
      <h3>Chat with {doc.name}</h3>
      <p className="help">Signed webhooks go to the flow's executor in chatflow dev; replies are read from the channel sandbox.</p>
      {manual && !id && <textarea className="mono" rows={3} placeholder="NAME=VALUE inputs of the run, one a line" value={inputs} onChange={(e) => setInputs(e.target.value)} />}
      {!id && <button className="primary" onClick={start} data-testid="chat-start">Start chat</button>}
      <div className="messages" data-testid="chat-messages">
        {lines.map((l, i) => (
          <div key={i} className={`msg ${l.who}`}>
            <div>{l.text}</div>
            {l.choices && l.choices.length > 0 && (
              <div className="choices">{l.choices.map((c, j) => <button key={j} onClick={() => say(String(j + 1))}>{c}</button>)}</div>
            )}
          </div>
        ))}
      </div>
      {id && (
        <form onSubmit={(e) => { e.preventDefault(); say(text); }}>
          <input value={text} onChange={(e) => setText(e.target.value)} placeholder="Type a message" data-testid="chat-input" />
          <button type="submit" data-testid="chat-send">Send</button>
        </form>
      )}
      {err && <div className="field-problems" data-testid="chat-error">{err}</div>}
    </div>
  );
}
