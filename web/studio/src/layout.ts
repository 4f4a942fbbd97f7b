// Automatic layout: left to right, as a reader follows a conversation.
import dagre from '@dagrejs/dagre';
import { edgesOf, nodesOf, outletsOf, type FlowNode, type Obj } from './model';

export const NODE_WIDTH = 240;

/** The height of a node on the canvas: a header, a line of detail and a
 * row per outlet. */
export function nodeHeight(n: FlowNode): number {
  return 56 + 20 * Math.max(1, outletsOf(n).length);
}

export type Positions = Record<string, { x: number; y: number }>;

/** layout places every node of the flow; the Start node comes first and
 * edges run left to right. */
export function layout(flow: Obj): Positions {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 90, edgesep: 12, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const nodes = nodesOf(flow);
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: nodeHeight(n) });
  for (const e of edgesOf(flow).edges) {
    // A jump back, or an edge to an earlier node, does not pull its target
    // to the right of its source.
    g.setEdge(e.source, e.target, { weight: e.kind === 'next' ? 2 : 1, minlen: 1 }, e.id);
  }
  dagre.layout(g);
  const out: Positions = {};
  for (const n of nodes) {
    const p = g.node(n.id);
    out[n.id] = { x: Math.round(p.x - NODE_WIDTH / 2), y: Math.round(p.y - nodeHeight(n) / 2) };
  }
  return out;
}
