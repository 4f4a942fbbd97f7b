package store

import (
	"context"
	"slices"
	"time"
)

// memObserved is the memory store's Observed data, guarded by memory.mu.
type memObserved struct {
	events  map[string]*memEvents
	waiting map[string]map[string]int64 // node -> contact -> since (ms)
	// forgotten: contacts Forget erased, until when Record drops their
	// events. Pruned at each Forget.
	forgotten map[string]time.Time
}

type memEvents struct {
	list  [][]byte
	until time.Time
}

var _ Observed = (*memory)(nil)

func (m *memory) Peek(ctx context.Context, contacts ...string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([][]byte, len(contacts))
	for i, name := range contacts {
		if c := m.contacts[name]; c != nil && c.hasState {
			out[i] = clone(c.state)
		}
	}
	return out, nil
}

func (m *memory) Record(ctx context.Context, notes ...Note) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	o := &m.obs
	now := m.now()
	for _, n := range notes {
		if err := checkContact(n.Contact); err != nil {
			return err
		}
		if n.Leave != "" {
			delete(o.waiting[n.Leave], n.Contact)
		}
		if n.Enter != "" {
			if o.waiting == nil {
				o.waiting = map[string]map[string]int64{}
			}
			at := o.waiting[n.Enter]
			if at == nil {
				at = map[string]int64{}
				o.waiting[n.Enter] = at
			}
			at[n.Contact] = n.Since.UnixMilli()
		}
		if n.Forget {
			delete(o.events, n.Contact)
		}
		if len(n.Events) == 0 || n.Keep <= 0 || now.Before(o.forgotten[n.Contact]) {
			continue
		}
		if o.events == nil {
			o.events = map[string]*memEvents{}
		}
		ev := o.events[n.Contact]
		if ev == nil || !now.Before(ev.until) {
			ev = &memEvents{}
			o.events[n.Contact] = ev
		}
		for _, e := range n.Events {
			ev.list = append(ev.list, clone(e))
		}
		if over := len(ev.list) - n.Keep; over > 0 {
			ev.list = slices.Delete(ev.list, 0, over)
		}
		ev.until = now.Add(n.KeepFor)
	}
	return nil
}

func (m *memory) Events(ctx context.Context, contact string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	ev := m.obs.events[contact]
	if ev == nil || !m.now().Before(ev.until) {
		return nil, nil
	}
	out := make([][]byte, len(ev.list))
	for i, e := range ev.list {
		out[i] = clone(e)
	}
	return out, nil
}

// Waiting pages through the node's contacts in id order; the cursor is the
// last contact of the page.
func (m *memory) Waiting(ctx context.Context, node, cursor string, limit int) ([]Waiter, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, "", ErrClosed
	}
	at := m.obs.waiting[node]
	ids := make([]string, 0, len(at))
	for c := range at {
		if c > cursor {
			ids = append(ids, c)
		}
	}
	slices.Sort(ids)
	limit = max(limit, 1)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]Waiter, len(ids))
	for i, c := range ids {
		out[i] = Waiter{Contact: c, Since: time.UnixMilli(at[c])}
	}
	return out, next, nil
}

func (m *memory) WaitingCounts(ctx context.Context, nodes []string) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]int64, len(nodes))
	for i, n := range nodes {
		out[i] = int64(len(m.obs.waiting[n]))
	}
	return out, nil
}

func (m *memory) Unindex(ctx context.Context, node string, stale ...Waiter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	at := m.obs.waiting[node]
	for _, w := range stale {
		if since, ok := at[w.Contact]; ok && since == w.Since.UnixMilli() {
			delete(at, w.Contact)
		}
	}
	return nil
}

func (m *memory) Forget(ctx context.Context, contact string, nodes []string, hold time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	for c, until := range m.obs.forgotten {
		if !now.Before(until) {
			delete(m.obs.forgotten, c)
		}
	}
	if hold > 0 {
		if m.obs.forgotten == nil {
			m.obs.forgotten = map[string]time.Time{}
		}
		m.obs.forgotten[contact] = now.Add(hold)
	}
	delete(m.obs.events, contact)
	for _, n := range nodes {
		delete(m.obs.waiting[n], contact)
	}
	return nil
}
