package store

import (
	"container/heap"
	"slices"
	"time"
)

// pump fires due timers, re-signals contacts whose lease expired (their
// worker is gone) and forgets expired dedupe records.
func (m *memory) pump() {
	defer m.wg.Done()
	tick := time.NewTicker(memoryTick)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		now := m.now()
		m.fireDue(now)
		m.expireLeases(now)
		if time.Since(lastSweep) > time.Second {
			lastSweep = time.Now()
			m.sweep(now)
		}
		m.mu.Unlock()
	}
}

// fireDue turns due timers into inbox items. Callers hold mu.
func (m *memory) fireDue(now time.Time) {
	for m.timers.Len() > 0 && !m.timers[0].at.After(now) {
		e := heap.Pop(&m.timers).(timerEntry)
		c := m.contacts[e.contact]
		if c == nil {
			continue
		}
		t, ok := c.timers[e.id]
		if !ok || t.nonce != e.nonce {
			continue // cancelled or replaced: the replacement has its own entry
		}
		delete(c.timers, e.id)
		c.inbox = append(c.inbox, Item{ID: "timer:" + e.id, Payload: t.payload})
		m.signal(e.contact, c)
	}
}

// expireLeases drops leases nobody renewed and re-signals their contacts if
// work is left. Callers hold mu.
func (m *memory) expireLeases(now time.Time) {
	for name := range m.leased {
		c := m.contacts[name]
		if c == nil || c.lease == nil {
			delete(m.leased, name)
			continue
		}
		if now.Before(c.lease.expires) {
			continue
		}
		c.lease = nil
		delete(m.leased, name)
		if len(c.inbox) > 0 {
			m.signal(name, c)
		}
	}
}

// sweep forgets expired dedupe records, sessions idle past their
// retention (with their timers) and dead letters past theirs, contacts
// with nothing left, and timer heap entries of timers that cannot fire any
// more. Callers hold mu.
func (m *memory) sweep(now time.Time) {
	live := 0
	for name, c := range m.contacts {
		for id, until := range c.dedupe {
			if !now.Before(until) {
				delete(c.dedupe, id)
			}
		}
		if !c.keep.IsZero() && !now.Before(c.keep) && c.lease == nil {
			c.state, c.hasState, c.timers, c.keep = nil, false, nil, time.Time{}
		}
		live += len(c.timers)
		if !c.hasState && len(c.inbox) == 0 && len(c.timers) == 0 &&
			len(c.dedupe) == 0 && c.lease == nil && !c.queued {
			delete(m.contacts, name)
		}
	}
	m.dead = slices.DeleteFunc(m.dead, func(d DeadLetter) bool {
		return !now.Before(d.At.Add(m.opts.SessionIdleTimeout))
	})
	// Cancelled and replaced timers leave their entries until due: drop
	// them once they outnumber the timers that can fire.
	if len(m.timers) > 2*live+1024 {
		m.timers = slices.DeleteFunc(m.timers, func(e timerEntry) bool {
			c := m.contacts[e.contact]
			t, ok := c.timerOf(e.id)
			return !ok || t.nonce != e.nonce
		})
		heap.Init(&m.timers)
	}
}

func (c *memContact) timerOf(id string) (memTimer, bool) {
	if c == nil {
		return memTimer{}, false
	}
	t, ok := c.timers[id]
	return t, ok
}

type timerEntry struct {
	at      time.Time
	contact string
	id      string
	nonce   uint64
}

// timerHeap orders timer entries by due time. Entries of cancelled or
// replaced timers stay until they are due and are skipped then.
type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
func (h *timerHeap) push(e timerEntry) { heap.Push(h, e) }
