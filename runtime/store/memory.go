package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// memory is the in-process store: one mutex guards everything, and waiters
// block on a channel that is closed whenever work may have become available.
type memory struct {
	opts Options

	mu       sync.Mutex
	contacts map[string]*memContact
	ready    []string            // contacts with a pending signal, FIFO
	leased   map[string]struct{} // contacts whose lease may still be live
	timers   timerHeap
	dead     []DeadLetter // oldest first
	nonce    uint64
	changed  chan struct{}
	closed   bool
	obs      memObserved // memory_observe.go
	// campaigns is the campaign ledger (campaign.go), by campaign, with
	// the sealer that names its contacts.
	campaigns  map[string]*memCampaign
	ledgerSeal *sealer

	done chan struct{}
	wg   sync.WaitGroup
}

type memContact struct {
	state    []byte
	hasState bool
	// keep is when the state and timers are forgotten unless a commit
	// comes first (Options.SessionIdleTimeout).
	keep   time.Time
	inbox  []Item
	timers map[string]memTimer
	dedupe map[string]time.Time // ID -> forget after
	lease  *memLease
	queued bool
}

type memLease struct {
	token   string
	expires time.Time
	seq     int64  // commits applied, as in the redis store
	last    string // digest of the last commit applied
}

type memTimer struct {
	nonce   uint64 // tells a heap entry of this timer from one of a replaced timer
	payload []byte
}

// memoryTick is how often the pump looks for due timers and expired leases.
// It polls rather than sleeping until the next deadline because Clock may be
// a fake that tests move forward.
const memoryTick = 10 * time.Millisecond

// NewMemory returns a single-replica store that keeps everything in this
// process: for tests and `chatflow dev`. It has the same semantics as the
// redis store except durability across restarts. An invalid Namespace is
// ignored (it only matters for key names).
func NewMemory(opts Options) Store {
	opts.Namespace = ""
	opts, _ = opts.withDefaults()
	m := &memory{
		opts:     opts,
		contacts: map[string]*memContact{},
		leased:   map[string]struct{}{},
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.wg.Add(1)
	go m.pump()
	return m
}

func (m *memory) now() time.Time { return m.opts.Clock() }

// notify wakes every Acquire waiting for work. Callers hold mu.
func (m *memory) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// signal queues the contact for Acquire unless it already is. Callers hold mu.
func (m *memory) signal(name string, c *memContact) {
	if !c.queued {
		c.queued = true
		m.ready = append(m.ready, name)
	}
	m.notify()
}

func (m *memory) contact(name string) *memContact {
	c := m.contacts[name]
	if c == nil {
		c = &memContact{}
		m.contacts[name] = c
	}
	return c
}

func (m *memory) Enqueue(ctx context.Context, contact string, items ...Item) (int, error) {
	if err := checkContact(contact); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	c := m.contact(contact)
	now := m.now()
	accepted, refused := 0, 0
	for _, it := range items {
		if it.ID != "" {
			if until, ok := c.dedupe[it.ID]; ok && now.Before(until) {
				continue
			}
		}
		if len(c.inbox) >= m.opts.MaxInbox {
			refused++ // not remembered: a retry later is not a duplicate
			continue
		}
		if it.ID != "" {
			if c.dedupe == nil {
				c.dedupe = map[string]time.Time{}
			}
			c.dedupe[it.ID] = now.Add(m.opts.DedupeTTL)
		}
		c.inbox = append(c.inbox, Item{ID: it.ID, Payload: clone(it.Payload)})
		accepted++
	}
	m.signal(contact, c)
	if refused > 0 {
		return accepted, fmt.Errorf("%w: %d items refused", ErrInboxFull, refused)
	}
	return accepted, nil
}

func (m *memory) Acquire(ctx context.Context) (*Lease, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		now := m.now()
		for len(m.ready) > 0 {
			name := m.ready[0]
			m.ready[0] = ""
			m.ready = m.ready[1:]
			c := m.contacts[name]
			if c == nil {
				continue
			}
			c.queued = false
			if c.lease != nil && now.Before(c.lease.expires) {
				// Held: its holder's Release re-signals if this work is
				// still there, and an expired lease is re-signalled by the
				// pump, so the signal can be dropped.
				continue
			}
			l := &Lease{Contact: name, Token: newToken()}
			c.lease = &memLease{token: l.Token, expires: now.Add(m.opts.LeaseTTL)}
			m.leased[name] = struct{}{}
			m.mu.Unlock()
			return l, nil
		}
		wait := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.done:
			return nil, ErrClosed
		case <-wait:
		}
	}
}

// held returns the contact if l is its live lease. Callers hold mu.
func (m *memory) held(l *Lease) (*memContact, error) {
	if m.closed {
		return nil, ErrClosed
	}
	c := m.contacts[l.Contact]
	if c == nil || c.lease == nil || c.lease.token != l.Token || !m.now().Before(c.lease.expires) {
		return nil, ErrLeaseLost
	}
	return c, nil
}

func (m *memory) Load(ctx context.Context, l *Lease) (*Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.held(l)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Inbox: make([]Item, len(c.inbox))}
	if c.hasState {
		s.State = clone(c.state) // never nil: clone of a stored []byte{} is []byte{}
	}
	for i, it := range c.inbox {
		s.Inbox[i] = Item{ID: it.ID, Payload: clone(it.Payload)}
	}
	return s, nil
}

func (m *memory) Commit(ctx context.Context, l *Lease, cm Commit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.released {
		return ErrLeaseLost
	}
	c, err := m.held(l)
	if err != nil {
		return err
	}
	digest := commitDigest(cm)
	switch l.seq {
	case c.lease.seq:
	case c.lease.seq - 1:
		if digest != c.lease.last {
			return ErrLeaseLost // not a retry: a commit sent with a stale sequence number
		}
		l.seq++ // a retry of the last commit: applied already
		return nil
	default:
		return ErrLeaseLost
	}
	if cm.Consumed < 0 || cm.Consumed > len(c.inbox) {
		return fmt.Errorf("store: commit consumes %d items but the inbox holds %d", cm.Consumed, len(c.inbox))
	}
	now := m.now()
	if cm.DeadLetter != "" && cm.Consumed > 0 {
		m.deadLetter(l.Contact, c.inbox[0], cm.DeadLetter, now)
	}
	switch {
	case cm.DeleteState:
		c.state, c.hasState = nil, false
	case cm.State != nil:
		c.state, c.hasState = clone(cm.State), true
	}
	clear(c.inbox[:cm.Consumed])
	c.inbox = c.inbox[cm.Consumed:]
	for _, id := range cm.CancelTimers {
		delete(c.timers, id)
	}
	c.keep = later(c.keep, now.Add(m.opts.SessionIdleTimeout))
	for _, t := range cm.SetTimers {
		if c.timers == nil {
			c.timers = map[string]memTimer{}
		}
		m.nonce++
		c.timers[t.ID] = memTimer{nonce: m.nonce, payload: clone(t.Payload)}
		m.timers.push(timerEntry{at: t.At, contact: l.Contact, id: t.ID, nonce: m.nonce})
		c.keep = later(c.keep, t.At.Add(m.opts.SessionIdleTimeout))
	}
	c.lease.expires = now.Add(m.opts.LeaseTTL)
	c.lease.seq++
	c.lease.last = digest
	l.seq++
	if cm.Release && len(c.inbox) == 0 {
		m.release(l, c)
	}
	return nil
}

func (m *memory) Renew(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.held(l)
	if err != nil {
		return err
	}
	c.lease.expires = m.now().Add(m.opts.LeaseTTL)
	return nil
}

func (m *memory) Release(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if l.released {
		return nil // by its last Commit
	}
	if c := m.contacts[l.Contact]; c != nil {
		m.release(l, c)
	}
	return nil
}

// release gives l up if it still holds c, and makes c available again if it
// has work left. m.mu is held.
func (m *memory) release(l *Lease, c *memContact) {
	if c.lease != nil && c.lease.token == l.Token {
		c.lease = nil
		delete(m.leased, l.Contact)
	}
	if len(c.inbox) > 0 {
		m.signal(l.Contact, c)
	}
	l.released = true
}

func (m *memory) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

func (m *memory) Stats(ctx context.Context) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Stats{}, ErrClosed
	}
	var s Stats
	now := m.now()
	for _, c := range m.contacts {
		live := c.lease != nil && now.Before(c.lease.expires)
		if live {
			s.InFlight++
		}
		if live || c.queued {
			s.Signals++
		}
		s.Timers += int64(len(c.timers))
		s.InboxItems += int64(len(c.inbox))
	}
	s.DeadLetters = int64(len(m.dead))
	return s, nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
