import { Handle, Position, type NodeProps, type Node } from '@xyflow/react';
import { memo } from 'react';
import { outletsOf, type FlowNode, type NodeProblem } from './model';
import { NODE_WIDTH } from './layout';

export interface Counters { entered: number; errors: number; waiting: number }

export type NodeData = {
  node: FlowNode;
  detail: string;
  problems: NodeProblem[];
  /** Outlets whose target is wrong (dangling or reported by the compiler). */
  badOutlets: Set<string>;
  match: boolean;
  counters?: Counters;
};

export type CanvasNode = Node<NodeData, 'flow'>;

export const TYPE_COLORS: Record<string, string> = {
  Start: '#2e7d32', End: '#616161', SendMessage: '#1565c0', WaitForReply: '#6a1b9a',
  Condition: '#ef6c00', SetVariables: '#00838f', HTTPRequest: '#4e342e', Delay: '#5d4037',
  Jump: '#ad1457', Handoff: '#c62828', AIReply: '#00695c', AIClassify: '#00695c', AIExtract: '#00695c', ForwardToFlow: '#37474f',
};

function FlowNodeView({ data, selected }: NodeProps<CanvasNode>) {
  const { node, detail, problems, badOutlets, match, counters } = data;
  const outlets = outletsOf(node);
  const color = TYPE_COLORS[node.type] ?? '#455a64';
  const cls = ['fnode', selected ? 'selected' : '', problems.length ? 'invalid' : '', match ? 'match' : ''].join(' ');
  return (
    <div className={cls} style={{ width: NODE_WIDTH, borderColor: problems.length ? undefined : color }} data-testid={`node-${node.id}`}>
      {node.type !== 'Start' && <Handle type="target" position={Position.Left} id="in" style={{ top: 28 }} />}
      <div className="fnode-head" style={{ background: color }}>
        <span className="fnode-type">{node.type}</span>
        <span className="fnode-id">{node.id}</span>
        {problems.length > 0 && <span className="fnode-errors" title={problems.map((p) => p.message).join('\n')}>{problems.length}</span>}
      </div>
      <div className="fnode-detail" title={detail}>{detail || '\u00a0'}</div>
      {counters && (
        <div className="fnode-counters" data-testid={`counters-${node.id}`}>
          <span title="runs that entered">▶ {counters.entered}</span>
          <span title="errors" className={counters.errors ? 'bad' : ''}>⚠ {counters.errors}</span>
          <span title="contacts waiting here">⏸ {counters.waiting}</span>
        </div>
      )}
      {outlets.map((o, i) => (
        <div key={o.id} className={`fnode-outlet kind-${o.kind}${badOutlets.has(o.id) ? ' bad' : ''}`}>
          <span>{o.label}</span>
          <Handle type="source" position={Position.Right} id={o.id} style={{ top: 56 + (counters ? 18 : 0) + i * 20 + 10 }} className={badOutlets.has(o.id) ? 'bad' : ''} />
        </div>
      ))}
    </div>
  );
}

export default memo(FlowNodeView);
