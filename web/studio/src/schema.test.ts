import { describe, expect, it } from 'vitest';
import { emptyValue, fieldsOf, widgetFor } from './schema';
import { History } from './history';

describe('widgets from the schema', () => {
  it('picks an editor from the field schema', () => {
    expect(widgetFor('method', { type: 'string', enum: ['GET', 'POST'] })).toBe('select');
    expect(widgetFor('when', { type: 'string', description: "when is a CEL expression returning a bool" })).toBe('cel');
    expect(widgetFor('text', { type: 'string', description: 'text of the message (a template).' })).toBe('template');
    expect(widgetFor('next', { type: 'string' })).toBe('link');
    expect(widgetFor('target', { type: 'string' })).toBe('link');
    expect(widgetFor('enabled', { type: 'boolean' })).toBe('checkbox');
    expect(widgetFor('maxJumps', { type: 'integer' })).toBe('number');
    expect(widgetFor('buttons', { type: 'array', items: { type: 'object' } })).toBe('list');
    expect(widgetFor('labels', { type: 'object', additionalProperties: { type: 'string' } })).toBe('map');
    expect(widgetFor('x', { 'x-kubernetes-preserve-unknown-fields': true })).toBe('json');
    expect(widgetFor('name', { type: 'string' })).toBe('text');
  });

  it('lists required fields first and starts new items with them', () => {
    const s = { type: 'object', required: ['when', 'next'], properties: { name: { type: 'string' }, when: { type: 'string' }, next: { type: 'string' } } };
    expect(fieldsOf(s).map((f) => f.name)).toEqual(['when', 'next', 'name']);
    expect(emptyValue(s)).toEqual({ when: '', next: '' });
    expect(emptyValue({ type: 'string', enum: ['Image', 'Video'] })).toBe('Image');
  });
});

describe('history', () => {
  it('undoes and redoes, and a new edit drops the redo', () => {
    const h = new History<number>();
    h.record(1);
    h.record(2);
    expect(h.undo(3)).toBe(2);
    expect(h.undo(2)).toBe(1);
    expect(h.undo(1)).toBeUndefined();
    expect(h.redo(1)).toBe(2);
    h.record(2);
    expect(h.canRedo).toBe(false);
  });
});
