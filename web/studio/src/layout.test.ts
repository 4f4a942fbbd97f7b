import { describe, expect, it } from 'vitest';
import { layout, NODE_WIDTH } from './layout';

/** A chain of n nodes, each a Condition that may skip ahead. */
function bigFlow(n: number) {
  const nodes: any[] = [{ id: 'start', type: 'Start', next: 'n1' }];
  for (let i = 1; i < n - 1; i++) {
    const next = i + 1 < n - 1 ? `n${i + 1}` : 'end';
    nodes.push(i % 5 === 0
      ? { id: `n${i}`, type: 'Condition', condition: { branches: [{ when: 'true', next }], default: i + 2 < n - 1 ? `n${i + 2}` : 'end' } }
      : { id: `n${i}`, type: 'SendMessage', sendMessage: { text: `m${i}` }, next });
  }
  nodes.push({ id: 'end', type: 'End' });
  return { spec: { trigger: { type: 'WhatsApp' }, nodes } };
}

describe('layout', () => {
  it('reads left to right from Start and does not overlap', () => {
    const f = bigFlow(12);
    const p = layout(f);
    expect(Object.keys(p)).toHaveLength(12);
    expect(p.start.x).toBeLessThan(p.n1.x);
    expect(p.n1.x).toBeLessThan(p.end.x);
    const boxes = Object.values(p);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        const overlap = Math.abs(a.x - b.x) < NODE_WIDTH && Math.abs(a.y - b.y) < 60;
        expect(overlap).toBe(false);
      }
    }
  });

  it('lays out 500 nodes', () => {
    const p = layout(bigFlow(500));
    expect(Object.keys(p)).toHaveLength(500);
    expect(Object.values(p).every((q) => Number.isFinite(q.x) && Number.isFinite(q.y))).toBe(true);
  });
});
