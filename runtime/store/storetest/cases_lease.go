package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

func testExclusive(t *testing.T, h *harness) {
	// Renewed every 200ms, a 5s lease stays held even on a loaded machine.
	opts := store.Options{LeaseTTL: 5 * time.Second}
	r1, r2 := h.replica(opts), h.replica(opts)
	enqueue(t, r1, "c", item("1", "a"))
	l := next(t, 5*time.Second, r1, r2)
	stop := make(chan struct{})
	renewed := make(chan error, 1)
	go func() { // keep the lease alive
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				renewed <- nil
				return
			case <-tick.C:
				if err := l.Store.Renew(context.Background(), l.Lease); err != nil {
					renewed <- err
					return
				}
			}
		}
	}()
	// New work for the held contact, from both replicas.
	enqueue(t, r1, "c", item("2", "b"))
	enqueue(t, r2, "c", item("3", "c"))
	if other, ok := tryNext(t, 3*time.Second, r1, r2); ok {
		t.Errorf("contact %s was leased twice (%s and %s)", other.Contact, l.Token, other.Token)
	}
	close(stop)
	if err := <-renewed; err != nil {
		t.Fatalf("Renew: %v", err)
	}
	commit(t, l, store.Commit{State: []byte("a"), Consumed: 1})
	release(t, l)
	l2 := next(t, 10*time.Second, r1, r2)
	if l2.Contact != "c" || ids(l2.snap.Inbox) != "2=b 3=c" || string(l2.snap.State) != "a" {
		t.Errorf("after release: contact %s state %q inbox %q, want c, a, 2=b 3=c", l2.Contact, l2.snap.State, ids(l2.snap.Inbox))
	}
}

func testExpired(t *testing.T, h *harness) {
	s := h.replica(store.Options{LeaseTTL: 500 * time.Millisecond})
	enqueue(t, s, "c", item("1", "a"), item("2", "b"))
	l := next(t, 5*time.Second, s)
	time.Sleep(1200 * time.Millisecond) // the worker stalls past its lease
	ctx := ctxFor(t, 5*time.Second)
	err := s.Commit(ctx, l.Lease, store.Commit{State: []byte("late"), Consumed: 1})
	if !isLost(err) {
		t.Fatalf("Commit after expiry: %v, want ErrLeaseLost", err)
	}
	if err := s.Renew(ctx, l.Lease); !isLost(err) {
		t.Errorf("Renew after expiry: %v, want ErrLeaseLost", err)
	}
	if _, err := s.Load(ctx, l.Lease); !isLost(err) {
		t.Errorf("Load after expiry: %v, want ErrLeaseLost", err)
	}
	// The contact is available again, untouched.
	l2 := next(t, 10*time.Second, s)
	if l2.snap.State != nil || ids(l2.snap.Inbox) != "1=a 2=b" {
		t.Errorf("a lost commit wrote: state %q inbox %q", l2.snap.State, ids(l2.snap.Inbox))
	}
	// The old holder cannot disturb the new one.
	if err := s.Release(ctx, l.Lease); err != nil {
		t.Errorf("Release of a lost lease: %v", err)
	}
	commit(t, l2, store.Commit{State: []byte("ok"), Consumed: 2})
}

func testTakeover(t *testing.T, h *harness) {
	opts := store.Options{LeaseTTL: 700 * time.Millisecond}
	r1, r2 := h.replica(opts), h.replica(opts)
	enqueue(t, r1, "c", item("1", "a"), item("2", "b"))
	l := next(t, 5*time.Second, r1)
	// The worker commits item 1, then dies while handling item 2.
	commit(t, l, store.Commit{State: []byte("s1"), Consumed: 1})
	start := time.Now()
	l2 := next(t, 15*time.Second, r2)
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("taken over after %v, before the lease could expire", time.Since(start))
	}
	if string(l2.snap.State) != "s1" || ids(l2.snap.Inbox) != "2=b" {
		t.Fatalf("taken over: state %q inbox %q, want s1, 2=b", l2.snap.State, ids(l2.snap.Inbox))
	}
	if err := r1.Commit(ctxFor(t, 5*time.Second), l.Lease, store.Commit{State: []byte("zombie"), Consumed: 1}); !isLost(err) {
		t.Errorf("the dead worker's commit: %v, want ErrLeaseLost", err)
	}
	commit(t, l2, store.Commit{State: []byte("s2"), Consumed: 1})
	release(t, l2)
}

func testReleaseResignals(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	enqueue(t, s, "c", item("1", "a"))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{Consumed: 1})
	enqueue(t, s, "c", item("2", "b")) // arrives while the contact is held
	release(t, l)
	l2 := next(t, 5*time.Second, s)
	if l2.Contact != "c" || ids(l2.snap.Inbox) != "2=b" {
		t.Fatalf("after release: %s %q, want c 2=b", l2.Contact, ids(l2.snap.Inbox))
	}
	commit(t, l2, store.Commit{Consumed: 1})
	release(t, l2)
	if extra, ok := tryNext(t, time.Second, s); ok {
		t.Errorf("a drained contact came back: %s %q", extra.Contact, ids(extra.snap.Inbox))
	}
}

func testAcquireCancel(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Acquire(ctx)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Acquire did not return after its context was cancelled")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, err := s.Acquire(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire past its deadline: %v, want context.DeadlineExceeded", err)
	}
	// A cancelled Acquire loses no work.
	enqueue(t, s, "c", item("1", "a"))
	l := next(t, 5*time.Second, s)
	if ids(l.snap.Inbox) != "1=a" {
		t.Errorf("inbox %q", ids(l.snap.Inbox))
	}
}

// testCommitWithRelease: a releasing commit applies and gives the contact
// up in the same call, leaving a lease that cannot write any more — unless
// work arrived meanwhile, which the holder then loads under the same lease.
func testCommitWithRelease(t *testing.T, h *harness) {
	// Leases outlive the case: only the release can make the contact
	// available again, not a takeover.
	long := store.Options{LeaseTTL: time.Minute}
	s, other := h.replica(long), h.replica(long)
	ctx := ctxFor(t, 10*time.Second)
	enqueue(t, s, "c", item("1", "a"))
	l := next(t, 5*time.Second, s)
	before := *l.Lease // as the lease was when the commit's reply got lost
	due := store.Timer{ID: "t", At: time.Now().Add(-time.Second), Payload: []byte("fired")}
	commit(t, l, store.Commit{State: []byte("s1"), Consumed: 1, SetTimers: []store.Timer{due}, Release: true})
	if !l.Released() {
		t.Errorf("a releasing commit with no work left kept the lease")
	}
	if err := s.Commit(ctx, l.Lease, store.Commit{State: []byte("late")}); !isLost(err) {
		t.Errorf("Commit after a releasing commit: %v, want ErrLeaseLost", err)
	}
	if err := s.Renew(ctx, l.Lease); !isLost(err) {
		t.Errorf("Renew after a releasing commit: %v, want ErrLeaseLost", err)
	}
	if err := s.Release(ctx, l.Lease); err != nil {
		t.Errorf("Release after a releasing commit: %v", err)
	}
	// A retry of the releasing commit finds no lease and pops nothing.
	if err := s.Commit(ctx, &before, store.Commit{State: []byte("s1"), Consumed: 1, SetTimers: []store.Timer{due}, Release: true}); !isLost(err) {
		t.Errorf("retried releasing commit: %v, want ErrLeaseLost", err)
	}
	// The timer it stored fires, and any replica may take the contact.
	l2 := next(t, 5*time.Second, s, other)
	if got := ids(l2.snap.Inbox); got != "timer:t=fired" || string(l2.snap.State) != "s1" {
		t.Fatalf("after the releasing commit: inbox %q state %q, want timer:t=fired s1", got, l2.snap.State)
	}
	// Work that arrives while the contact is held is not released: the
	// holder goes on with it under the same lease.
	enqueue(t, s, "c", item("2", "b"))
	// No other worker gets the contact meanwhile.
	if extra, ok := tryNext(t, 500*time.Millisecond, s, other); ok {
		t.Fatalf("a held contact was leased again: %s", extra.Contact)
	}
	commit(t, l2, store.Commit{State: []byte("s2"), Consumed: 1, Release: true})
	if l2.Released() {
		t.Fatalf("a releasing commit released the lease although work was left")
	}
	if snap := load(t, l2); ids(snap.Inbox) != "2=b" || string(snap.State) != "s2" {
		t.Fatalf("after work arrived meanwhile: inbox %q state %q, want 2=b s2", ids(snap.Inbox), snap.State)
	}
	commit(t, l2, store.Commit{State: []byte("s3"), Consumed: 1, Release: true})
	if !l2.Released() {
		t.Errorf("the last releasing commit kept the lease")
	}
	if extra, ok := tryNext(t, time.Second, s, other); ok {
		t.Errorf("a drained contact came back: %s %q", extra.Contact, ids(extra.snap.Inbox))
	}
}
