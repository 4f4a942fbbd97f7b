package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// footprint counts what the memory store holds: contacts, dedupe records,
// timer heap entries and dead letters.
func (m *memory) footprint() (contacts, dedupe, heapEntries, dead int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.contacts {
		dedupe += len(c.dedupe)
	}
	return len(m.contacts), dedupe, len(m.timers), len(m.dead)
}

// TestMemoryStaysBoundedUnderLoad plays two and a half simulated days of
// sustained traffic — new contacts every ten minutes, each with messages,
// a session, a long WaitForReply timer set and cancelled, and some dead
// letters — and checks that what the store holds stops growing once the
// retention periods have passed: it holds the last day or so of contacts,
// not every contact ever seen.
func TestMemoryStaysBoundedUnderLoad(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // moved under the store's lock, which every reader of the clock holds
	s := NewMemory(Options{Clock: func() time.Time { return clock() }, LeaseTTL: time.Minute,
		DedupeTTL: 6 * time.Hour, SessionIdleTimeout: 2 * time.Hour, MaxDeadLetters: 100}).(*memory)
	defer s.Close()
	ctx := context.Background()
	const (
		perRound = 50
		rounds   = 400 // of 10 minutes: 66 hours
	)
	type sample struct{ contacts, dedupe, heap, dead int }
	samples := map[int]sample{}
	for r := range rounds {
		for c := range perRound {
			contact := fmt.Sprintf("r%d-c%d", r, c)
			if _, err := s.Enqueue(ctx, contact, Item{ID: contact + "-m1"}, Item{ID: contact + "-m2"}); err != nil {
				t.Fatal(err)
			}
		}
		for range perRound {
			l, err := s.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := s.Load(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			// A WaitForReply of 20 hours, answered by the next message.
			wait := []Timer{{ID: "wait", At: now.Add(20 * time.Hour)}}
			if err := s.Commit(ctx, l, Commit{State: make([]byte, 256), Consumed: 1, SetTimers: wait}); err != nil {
				t.Fatal(err)
			}
			c := Commit{State: make([]byte, 256), Consumed: len(snap.Inbox) - 1, CancelTimers: []string{"wait"}, Release: true}
			if r%3 == 0 {
				c.DeadLetter = "panic"
			}
			if err := s.Commit(ctx, l, c); err != nil {
				t.Fatal(err)
			}
		}
		s.mu.Lock()
		now = now.Add(10 * time.Minute)
		s.fireDue(now)
		s.sweep(now)
		s.mu.Unlock()
		if r == 250 || r == rounds-1 {
			var x sample
			x.contacts, x.dedupe, x.heap, x.dead = s.footprint()
			samples[r] = x
		}
	}
	mid, end := samples[250], samples[rounds-1]
	t.Logf("held after 41h: %+v; after 66h: %+v (of %d contacts seen)", mid, end, rounds*perRound)
	if end.contacts > mid.contacts || end.dedupe > mid.dedupe || end.heap > mid.heap || end.dead > mid.dead {
		t.Errorf("the store kept growing: %+v after 41h, %+v after 66h", mid, end)
	}
	// A session lives at most its last timer's due time (20h) plus the idle
	// timeout (2h): 22h of contacts, 300 an hour, at most.
	if limit := 23 * 6 * perRound; end.contacts > limit || end.heap > 2*limit+1024 {
		t.Errorf("holding %+v, more than 22 hours of contacts (%d)", end, limit)
	}
	if end.dedupe > 7*6*perRound*2 {
		t.Errorf("holding %d dedupe records, more than 6 hours' worth", end.dedupe)
	}
	if end.dead > 100 {
		t.Errorf("holding %d dead letters, over the budget of 100", end.dead)
	}
}
