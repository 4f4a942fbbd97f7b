package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

const (
	replicas        = 2
	workersPer      = 4
	contacts        = 100
	itemsPerContact = 20
	producers       = 10
)

// testConcurrency runs the executor's loop on 2 replicas × 4 workers while
// 10 producers enqueue 20 items for each of 100 contacts (and re-send some,
// as channels do). Each step appends the item to the contact's state, so
// the final states show any loss, duplication or reordering, and a shared
// table catches two workers holding one contact.
func testConcurrency(t *testing.T, h *harness) {
	opts := store.Options{LeaseTTL: 10 * time.Second}
	var stores []store.Store
	for range replicas {
		stores = append(stores, h.replica(opts))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var (
		mu      sync.Mutex
		holder  = map[string]string{} // contact -> token of the lease held
		final   = map[string]string{} // contact -> last committed state
		applied atomic.Int64
		wg      sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		cancel()
	}
	work := func(s store.Store) {
		for {
			l, err := s.Acquire(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			if other, ok := holder[l.Contact]; ok {
				mu.Unlock()
				fail("contact %s leased twice (%s, %s)", l.Contact, other, l.Token)
				return
			}
			holder[l.Contact] = l.Token
			mu.Unlock()
			// A turn runs to its end even when the test is wrapping up, as
			// the executor finishes in-flight turns on shutdown.
			turn := context.WithoutCancel(ctx)
			snap, err := s.Load(turn, l)
			if err != nil {
				fail("Load: %v", err)
				return
			}
			state := string(snap.State)
			for _, it := range snap.Inbox {
				state += string(it.Payload)
				if err := s.Commit(turn, l, store.Commit{State: []byte(state), Consumed: 1}); err != nil {
					fail("Commit: %v", err)
					return
				}
				applied.Add(1)
			}
			mu.Lock()
			delete(holder, l.Contact)
			final[l.Contact] = state
			mu.Unlock()
			if err := s.Release(turn, l); err != nil {
				fail("Release: %v", err)
				return
			}
			if applied.Load() == contacts*itemsPerContact {
				cancel()
			}
		}
	}
	for _, s := range stores {
		for range workersPer {
			wg.Go(func() { work(s) })
		}
	}
	var pwg sync.WaitGroup
	for p := range producers {
		pwg.Go(func() {
			for i := range itemsPerContact {
				for c := p; c < contacts; c += producers {
					s := stores[(c+i)%replicas]
					contact := fmt.Sprintf("contact-%03d", c)
					it := item(fmt.Sprintf("wa:%d:%d", c, i), fmt.Sprintf("%d,", i))
					batch := []store.Item{it}
					if i%5 == 4 { // a channel retry re-sends the previous message too
						batch = []store.Item{item(fmt.Sprintf("wa:%d:%d", c, i-1), "dup,"), it}
					}
					if _, err := s.Enqueue(ctx, contact, batch...); err != nil {
						fail("Enqueue: %v", err)
						return
					}
				}
			}
		})
	}
	pwg.Wait()
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := applied.Load(); n != contacts*itemsPerContact {
		t.Fatalf("%d steps applied, want %d (timed out?)", n, contacts*itemsPerContact)
	}
	var want strings.Builder
	for i := range itemsPerContact {
		fmt.Fprintf(&want, "%d,", i)
	}
	for c := range contacts {
		contact := fmt.Sprintf("contact-%03d", c)
		if final[contact] != want.String() {
			t.Errorf("%s state %q, want %q", contact, final[contact], want.String())
		}
	}
}
