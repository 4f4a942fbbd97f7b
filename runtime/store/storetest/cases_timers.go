package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

// setTimers takes the contact's lease through a start item and commits the
// timers with it.
func setTimers(t *testing.T, stores []store.Store, contact string, c store.Commit) {
	t.Helper()
	enqueue(t, stores[0], contact, item("start:"+contact, ""))
	l := next(t, 10*time.Second, stores...)
	for l.Contact != contact {
		release(t, l)
		l = next(t, 10*time.Second, stores...)
	}
	c.Consumed = len(l.snap.Inbox)
	commit(t, l, c)
	release(t, l)
}

// collect runs a worker on every store for d and returns the inbox items
// each contact received, consuming them.
func collect(t *testing.T, d time.Duration, stores ...store.Store) map[string][]store.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	got := map[string][]store.Item{}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for {
				l, err := s.Acquire(ctx)
				if err != nil {
					return
				}
				bg := context.Background()
				snap, err := s.Load(bg, l)
				if err == nil && len(snap.Inbox) > 0 {
					if err := s.Commit(bg, l, store.Commit{Consumed: len(snap.Inbox)}); err == nil {
						mu.Lock()
						got[l.Contact] = append(got[l.Contact], snap.Inbox...)
						mu.Unlock()
					} else {
						t.Errorf("Commit: %v", err)
					}
				}
				_ = s.Release(bg, l)
			}
		})
	}
	wg.Wait()
	return got
}

func testTimersOnce(t *testing.T, h *harness) {
	opts := store.Options{LeaseTTL: 2 * time.Second}
	stores := []store.Store{h.replica(opts), h.replica(opts)}
	now := time.Now()
	for c := range 5 {
		contact := fmt.Sprintf("c%d", c)
		var timers []store.Timer
		for i := range 4 {
			timers = append(timers, store.Timer{
				ID:      fmt.Sprintf("t%d", i),
				At:      now.Add(time.Duration(200+150*i) * time.Millisecond),
				Payload: []byte(fmt.Sprintf("%s-t%d", contact, i)),
			})
		}
		timers = append(timers, store.Timer{ID: "past", At: now.Add(-time.Hour), Payload: []byte("overdue")})
		setTimers(t, stores, contact, store.Commit{SetTimers: timers})
	}
	got := collect(t, 3*time.Second, stores...)
	for c := range 5 {
		contact := fmt.Sprintf("c%d", c)
		want := map[string]string{"timer:past": "overdue"}
		for i := range 4 {
			want[fmt.Sprintf("timer:t%d", i)] = fmt.Sprintf("%s-t%d", contact, i)
		}
		seen := map[string]int{}
		for _, it := range got[contact] {
			seen[it.ID]++
			if w, ok := want[it.ID]; !ok || string(it.Payload) != w {
				t.Errorf("%s received %s=%q, want one of %v", contact, it.ID, it.Payload, want)
			}
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("%s: timer %s fired %d times, want once", contact, id, seen[id])
			}
		}
	}
}

func testTimerCancel(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	now := time.Now()
	enqueue(t, s, "c", item("start", ""))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{Consumed: 1, SetTimers: []store.Timer{
		{ID: "cancelled", At: now.Add(300 * time.Millisecond)},
		{ID: "kept", At: now.Add(300 * time.Millisecond), Payload: []byte("k")},
	}})
	commit(t, l, store.Commit{CancelTimers: []string{"cancelled", "never-set"}})
	release(t, l)
	got := collect(t, 2*time.Second, s)
	if len(got["c"]) != 1 || got["c"][0].ID != "timer:kept" || string(got["c"][0].Payload) != "k" {
		t.Errorf("received %q, want only timer:kept=k", ids(got["c"]))
	}
}

func testTimerReplace(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	start := time.Now()
	enqueue(t, s, "c", item("start", ""))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{Consumed: 1, SetTimers: []store.Timer{{ID: "t", At: start.Add(300 * time.Millisecond), Payload: []byte("v1")}}})
	commit(t, l, store.Commit{SetTimers: []store.Timer{{ID: "t", At: start.Add(1200 * time.Millisecond), Payload: []byte("v2")}}})
	release(t, l)
	l2 := next(t, 5*time.Second, s)
	if at := time.Since(start); at < 1100*time.Millisecond {
		t.Errorf("replaced timer fired after %v, want ≥ 1.2s", at)
	}
	if ids(l2.snap.Inbox) != "timer:t=v2" {
		t.Fatalf("inbox %q, want timer:t=v2", ids(l2.snap.Inbox))
	}
	// Re-arming an ID that fired before works: IDs are not deduplicated
	// against earlier firings.
	commit(t, l2, store.Commit{Consumed: 1, SetTimers: []store.Timer{{ID: "t", At: time.Now(), Payload: []byte("v3")}}})
	release(t, l2)
	got := collect(t, 1500*time.Millisecond, s)
	if ids(got["c"]) != "timer:t=v3" {
		t.Errorf("after re-arming: %q, want timer:t=v3 once", ids(got["c"]))
	}
}
