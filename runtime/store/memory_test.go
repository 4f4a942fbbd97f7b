package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/storetest"
)

// memoryReplicas makes stores for the contract suite: the first store of a
// namespace is a real memory store, later ones are handles on it, standing
// in for replicas (the memory store itself is single-replica).
func memoryReplicas() storetest.Factory {
	var mu sync.Mutex
	stores := map[string]store.Store{}
	return func(t *testing.T, opts store.Options) store.Store {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := stores[opts.Namespace]; ok {
			return handle{s, s.(store.Observed)}
		}
		s := store.NewMemory(opts)
		stores[opts.Namespace] = s
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// handle shares a store without owning it.
type handle struct {
	store.Store
	store.Observed
}

func (handle) Close() error { return nil }

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, memoryReplicas())
}

func TestOpenMemory(t *testing.T) {
	s, err := store.Open(context.Background(), "memory", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(context.Background(), "etcd://x", store.Options{}); err == nil {
		t.Error("Open of an unknown store: no error")
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestMemoryClock checks that leases, dedupe and timers follow the injected
// clock, without waiting for real time.
func TestMemoryClock(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := store.NewMemory(store.Options{Clock: clock.Now, LeaseTTL: time.Minute, DedupeTTL: 24 * time.Hour})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if n, _ := s.Enqueue(ctx, "c", store.Item{ID: "a"}); n != 1 {
		t.Fatalf("accepted %d", n)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, l, store.Commit{Consumed: 1, SetTimers: []store.Timer{
		{ID: "wait", At: clock.Now().Add(10 * time.Minute), Payload: []byte("timeout")},
	}}); err != nil {
		t.Fatal(err)
	}
	// The worker hangs: after the TTL its lease is gone.
	clock.Add(2 * time.Minute)
	if err := s.Renew(ctx, l); err != store.ErrLeaseLost {
		t.Fatalf("Renew after TTL: %v", err)
	}
	// The timer fires when the clock says so, not before.
	short, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if l2, err := s.Acquire(short); err == nil {
		t.Fatalf("acquired %s before the timer was due", l2.Contact)
	}
	scancel()
	clock.Add(10 * time.Minute)
	l, err = s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Inbox) != 1 || snap.Inbox[0].ID != "timer:wait" || string(snap.Inbox[0].Payload) != "timeout" {
		t.Fatalf("inbox %+v, want timer:wait", snap.Inbox)
	}
	if err := s.Commit(ctx, l, store.Commit{Consumed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	// Dedupe records expire with the clock.
	if n, _ := s.Enqueue(ctx, "c", store.Item{ID: "a"}); n != 0 {
		t.Fatalf("duplicate accepted")
	}
	clock.Add(25 * time.Hour)
	if n, _ := s.Enqueue(ctx, "c", store.Item{ID: "a"}); n != 1 {
		t.Fatalf("after DedupeTTL accepted %d", n)
	}
}
