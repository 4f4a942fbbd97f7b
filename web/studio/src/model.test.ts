import { describe, expect, it } from 'vitest';
import {
  addNode, connect, edgesOf, matches, nodesOf, outletOfField, outletsOf, problemsByNode, removeNode, renameNode,
  setPath, updateNode,
} from './model';

const flow = () => ({
  apiVersion: 'chatflow.dev/v1alpha1', kind: 'ChatFlow', metadata: { name: 'f' },
  spec: {
    trigger: { type: 'WhatsApp' }, futureField: { kept: true },
    nodes: [
      { id: 'start', type: 'Start', next: 'ask' },
      { id: 'ask', type: 'SendMessage', sendMessage: { text: 'Hi' }, next: 'route', onError: 'end' },
      { id: 'route', type: 'Condition', condition: { branches: [{ name: 'yes', when: 'true', next: 'end' }, { when: 'false', next: 'gone' }], default: 'loop' } },
      { id: 'loop', type: 'Jump', jump: { target: 'ask', maxJumps: 2 }, next: 'end' },
      { id: 'end', type: 'End' },
    ],
  },
});

describe('outlets and edges', () => {
  it('gives every node type its ways out', () => {
    const n = nodesOf(flow());
    expect(outletsOf(n[0]).map((o) => o.id)).toEqual(['next']);
    expect(outletsOf(n[1]).map((o) => o.id)).toEqual(['next', 'onError']);
    expect(outletsOf(n[2]).map((o) => o.id)).toEqual(['branch:0', 'branch:1', 'default']);
    expect(outletsOf(n[3]).map((o) => [o.id, o.kind])).toEqual([['target', 'jump'], ['next', 'next']]);
    expect(outletsOf(n[4])).toEqual([]);
    expect(outletsOf({ id: 'w', type: 'WaitForReply' }).map((o) => o.label)).toEqual(['reply', 'timeout']);
    expect(outletsOf({ id: 'h', type: 'Handoff' }).map((o) => o.id)).toEqual(['next', 'onTimeout']);
    const classify = { id: 'c', type: 'AIClassify', aiClassify: { labels: [{ name: 'order', next: 'x' }, { name: 'question' }] } };
    expect(outletsOf(classify).map((o) => [o.id, o.label])).toEqual([['label:0', 'order'], ['label:1', 'question'], ['default', 'default'], ['onError', 'error']]);
    expect(outletOfField(classify, 'aiClassify.labels[1].next')).toBe('label:1');
    expect(outletsOf({ id: 'r', type: 'AIReply' }).map((o) => o.id)).toEqual(['next', 'onError']);
    expect(outletsOf({ id: 'e', type: 'AIExtract' }).map((o) => o.id)).toEqual(['next', 'onError']);
    expect(outletsOf({ id: 'f', type: 'ForwardToFlow', forwardToFlow: { flowRef: { name: 'billing' } } })).toEqual([]);
    expect(outletsOf({ id: 'f', type: 'ForwardToFlow', forwardToFlow: { flowRef: { name: 'billing' }, return: true } }).map((o) => o.label)).toEqual(['returned']);
  });

  it('links outlets to nodes and lists the dangling ones', () => {
    const { edges, dangling } = edgesOf(flow());
    expect(edges.map((e) => e.id)).toEqual([
      'start/next', 'ask/next', 'ask/onError', 'route/branch:0', 'route/default', 'loop/target', 'loop/next',
    ]);
    expect(dangling).toEqual([{ node: 'route', outlet: 'branch:1', target: 'gone' }]);
  });
});

describe('edits keep what they do not touch', () => {
  it('connects and disconnects an outlet', () => {
    let f = connect(flow(), 'route', 'branch:1', 'ask');
    expect(f.spec.nodes[2].condition.branches[1].next).toBe('ask');
    f = connect(f, 'ask', 'onError', undefined);
    expect('onError' in f.spec.nodes[1]).toBe(false);
    expect(f.spec.futureField).toEqual({ kept: true });
    expect(flow().spec.nodes[1].onError).toBe('end'); // the original is not changed
  });

  it('adds a node last with a fresh id and its member', () => {
    const r = addNode(flow(), 'SetVariables');
    expect(r.id).toBe('set-variables-1');
    const n = nodesOf(r.flow);
    expect(n[n.length - 1]).toEqual({ id: 'set-variables-1', type: 'SetVariables', setVariables: { variables: [{ name: 'source', value: 'studio' }] } });
    expect(Object.keys(n[n.length - 1]).slice(0, 2)).toEqual(['id', 'type']);
    expect(addNode(r.flow, 'SetVariables').id).toBe('set-variables-2');
    expect(addNode(flow(), 'HTTPRequest').id).toBe('http-request-1');
    expect(addNode(flow(), 'AIClassify').id).toBe('ai-classify-1');
    expect(nodesOf(addNode(flow(), 'AIReply').flow).at(-1)).toHaveProperty('aiReply.model');
  });

  it('removes a node and the references to it', () => {
    const f = removeNode(flow(), 'end');
    expect(nodesOf(f).map((n) => n.id)).toEqual(['start', 'ask', 'route', 'loop']);
    expect(f.spec.nodes[1].onError).toBeUndefined();
    expect(f.spec.nodes[2].condition.branches[0].next).toBeUndefined();
    expect(f.spec.nodes[3].next).toBeUndefined();
  });

  it('renames a node and every reference', () => {
    const f = renameNode(flow(), 'ask', 'greet');
    expect(f.spec.nodes[1].id).toBe('greet');
    expect(f.spec.nodes[0].next).toBe('greet');
    expect(f.spec.nodes[3].jump.target).toBe('greet');
  });

  it('sets and unsets nested fields', () => {
    expect(setPath({ a: { b: 1, c: 2 } }, ['a', 'b'], undefined)).toEqual({ a: { c: 2 } });
    expect(setPath({}, ['a', 'b'], 1)).toEqual({ a: { b: 1 } });
    expect(setPath({ l: [1, 2] }, ['l', 1], 3)).toEqual({ l: [1, 3] });
    const f = updateNode(flow(), 'ask', ['sendMessage', 'text'], 'Hello');
    expect(f.spec.nodes[1].sendMessage.text).toBe('Hello');
  });
});

describe('problems', () => {
  it('places a problem on the node its field path names', () => {
    const f = flow();
    const { byNode, flowLevel } = problemsByNode(f, [
      { kind: 'ChatFlow', name: 'f', field: 'spec.nodes[2].condition.branches[1].next', message: 'no node has id "gone"' },
      { kind: 'ChatFlow', name: 'f', field: 'spec.trigger.type', message: 'bad' },
      { kind: 'ChannelBinding', name: 'b', field: 'spec.nodes[0].next', message: 'another object' },
      { kind: 'ChatFlow', name: 'f', field: 'spec.nodes[1]', message: 'unreachable' },
    ]);
    expect(byNode.get('route')!.map((p) => p.sub)).toEqual(['condition.branches[1].next']);
    expect(byNode.get('ask')!.map((p) => p.sub)).toEqual(['']);
    expect(flowLevel.map((p) => p.field)).toEqual(['spec.trigger.type']);
    expect(outletOfField(f.spec.nodes[2], 'condition.branches[1].next')).toBe('branch:1');
    expect(outletOfField(f.spec.nodes[3], 'jump.target')).toBe('target');
    expect(outletOfField(f.spec.nodes[1], 'sendMessage.text')).toBeUndefined();
  });

  it('finds nodes by id or text', () => {
    const n = nodesOf(flow());
    expect(n.filter((x) => matches(x, 'HI')).map((x) => x.id)).toEqual(['ask']);
    expect(n.filter((x) => matches(x, 'loop')).map((x) => x.id)).toEqual(['route', 'loop']);
    expect(n.filter((x) => matches(x, ' ')).length).toBe(0);
  });
});
