package store

import (
	"context"
	"slices"
	"time"
)

// deadLetter keeps it as a dead letter of contact, dropping the oldest
// beyond the budget. Callers hold mu.
func (m *memory) deadLetter(contact string, it Item, reason string, now time.Time) {
	m.dead = append(m.dead, DeadLetter{ID: newDeadLetterID(), Contact: contact, Reason: reason, At: now,
		Item: Item{ID: it.ID, Payload: clone(it.Payload)}})
	if over := len(m.dead) - m.opts.MaxDeadLetters; over > 0 {
		clear(m.dead[:over])
		m.dead = m.dead[over:]
		m.opts.Dropped(BudgetDeadLetters, over)
	}
}

func (m *memory) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	now := m.now()
	limit = min(max(limit, 1), maxListDeadLetters)
	var out []DeadLetter
	for _, d := range m.dead {
		if len(out) == limit {
			break
		}
		if now.Before(d.At.Add(m.opts.SessionIdleTimeout)) {
			d.Item.Payload = clone(d.Item.Payload)
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memory) RetryDeadLetter(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	i := slices.IndexFunc(m.dead, func(d DeadLetter) bool { return d.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	d := m.dead[i]
	m.dead = slices.Delete(m.dead, i, i+1)
	c := m.contact(d.Contact)
	c.inbox = append(c.inbox, d.Item)
	m.signal(d.Contact, c)
	return nil
}

func (m *memory) Erase(ctx context.Context, contact string) (Erased, error) {
	if err := checkContact(contact); err != nil {
		return Erased{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Erased{}, ErrClosed
	}
	var e Erased
	if c := m.contacts[contact]; c != nil {
		e = Erased{Session: c.hasState, InboxItems: len(c.inbox), Timers: len(c.timers), DedupeRecords: len(c.dedupe)}
		delete(m.contacts, contact)
		delete(m.leased, contact)
	}
	m.dead = slices.DeleteFunc(m.dead, func(d DeadLetter) bool {
		if d.Contact == contact {
			e.DeadLetters++
			return true
		}
		return false
	})
	return e, nil
}
