package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

func testOrder(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	enqueue(t, s, "alice", item("m1", "one"), item("m2", "two"))
	enqueue(t, s, "b{o}b}|:", item("b1", "x")) // braces must not split its keys
	enqueue(t, s, "alice", item("m3", "three"))
	enqueue(t, s, "alice", item("m4", ""), item("m5", "five"))

	seen := map[string]string{}
	for range 2 {
		l := next(t, 5*time.Second, s)
		seen[l.Contact] = ids(l.snap.Inbox)
		commit(t, l, store.Commit{Consumed: len(l.snap.Inbox)})
		release(t, l)
	}
	if want := "m1=one m2=two m3=three m4= m5=five"; seen["alice"] != want {
		t.Errorf("alice's inbox = %q, want %q", seen["alice"], want)
	}
	if want := "b1=x"; seen["b{o}b}|:"] != want {
		t.Errorf("b{o}b}|:'s inbox = %q, want %q", seen["b{o}b}|:"], want)
	}
}

func testDedupe(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	r := h.replica(store.Options{}) // dedupe is shared by replicas
	if n := enqueue(t, s, "c", item("a", "1"), item("a", "1 again"), item("b", "2")); n != 2 {
		t.Errorf("first call accepted %d, want 2 (a duplicate inside one call)", n)
	}
	if n := enqueue(t, r, "c", item("b", "2 again"), item("c", "3"), item("a", "1 again")); n != 1 {
		t.Errorf("second call accepted %d, want 1", n)
	}
	if n := enqueue(t, s, "c", item("a", "x"), item("b", "x")); n != 0 {
		t.Errorf("all-duplicate call accepted %d, want 0", n)
	}
	// The same ID on another contact is another message.
	if n := enqueue(t, s, "d", item("a", "other contact")); n != 1 {
		t.Errorf("same ID on another contact accepted %d, want 1", n)
	}
	l := next(t, 5*time.Second, s)
	for l.Contact != "c" {
		release(t, l)
		l = next(t, 5*time.Second, s)
	}
	if got, want := ids(l.snap.Inbox), "a=1 b=2 c=3"; got != want {
		t.Errorf("inbox = %q, want %q", got, want)
	}
	// Consumed items stay remembered.
	commit(t, l, store.Commit{Consumed: 3})
	release(t, l)
	if n := enqueue(t, s, "c", item("a", "late retry")); n != 0 {
		t.Errorf("a retry after consumption accepted %d, want 0", n)
	}
}

func testDedupeExpires(t *testing.T, h *harness) {
	s := h.replica(store.Options{DedupeTTL: time.Second})
	if n := enqueue(t, s, "c", item("a", "1")); n != 1 {
		t.Fatalf("accepted %d, want 1", n)
	}
	if n := enqueue(t, s, "c", item("a", "1")); n != 0 {
		t.Fatalf("duplicate accepted %d, want 0", n)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := enqueue(t, s, "c", item("a", "1 much later")); n != 1 {
		t.Fatalf("after DedupeTTL accepted %d, want 1", n)
	}
}

func testNoID(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	if n := enqueue(t, s, "c", item("", "x"), item("", "x")); n != 2 {
		t.Errorf("accepted %d, want 2", n)
	}
	if n := enqueue(t, s, "c", item("", "x")); n != 1 {
		t.Errorf("accepted %d, want 1", n)
	}
	l := next(t, 5*time.Second, s)
	if len(l.snap.Inbox) != 3 {
		t.Errorf("inbox = %q, want three items", ids(l.snap.Inbox))
	}
}

func testState(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	enqueue(t, s, "c", item("1", ""), item("2", ""), item("3", ""), item("4", ""))
	l := next(t, 5*time.Second, s)
	if l.snap.State != nil {
		t.Fatalf("fresh contact has state %q, want nil", l.snap.State)
	}
	bin := []byte{0, 1, 2, 0xff, '\r', '\n', 0}
	commit(t, l, store.Commit{State: bin, Consumed: 1})
	if got := load(t, l).State; !bytes.Equal(got, bin) {
		t.Errorf("state = %v, want %v", got, bin)
	}
	commit(t, l, store.Commit{Consumed: 1}) // nil State keeps it
	if got := load(t, l).State; !bytes.Equal(got, bin) {
		t.Errorf("after a commit without state: %v, want %v", got, bin)
	}
	commit(t, l, store.Commit{State: []byte{}, Consumed: 1})
	if got := load(t, l).State; got == nil || len(got) != 0 {
		t.Errorf("empty state = %v (nil %v), want empty and not nil", got, got == nil)
	}
	commit(t, l, store.Commit{State: []byte("ignored"), DeleteState: true, Consumed: 1})
	if got := load(t, l).State; got != nil {
		t.Errorf("deleted state = %q, want nil", got)
	}
}

func testConsumed(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	enqueue(t, s, "c", item("1", "a"), item("2", "b"), item("3", "c"))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{State: []byte("s1"), Consumed: 2})
	snap := load(t, l)
	if got, want := ids(snap.Inbox), "3=c"; got != want {
		t.Errorf("inbox after consuming 2 = %q, want %q", got, want)
	}
	err := l.Store.Commit(ctxFor(t, 5*time.Second), l.Lease, store.Commit{State: []byte("s2"), Consumed: 2, DeadLetter: "x"})
	if err == nil {
		t.Fatalf("consuming more than the inbox holds: no error")
	}
	snap = load(t, l)
	if string(snap.State) != "s1" || ids(snap.Inbox) != "3=c" {
		t.Errorf("a refused commit wrote something: state %q inbox %q", snap.State, ids(snap.Inbox))
	}
	if dl, err := l.Store.DeadLetters(ctxFor(t, 5*time.Second), 10); err != nil || len(dl) != 0 {
		t.Errorf("a refused commit kept a dead letter: %+v %v", dl, err)
	}
	commit(t, l, store.Commit{Consumed: 0})
	if got := ids(load(t, l).Inbox); got != "3=c" {
		t.Errorf("Consumed 0 popped: inbox %q", got)
	}
}

func testRetriedCommit(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	enqueue(t, s, "c", item("1", "a"), item("2", "b"), item("3", "c"))
	l := next(t, 5*time.Second, s)
	before := *l.Lease // as the lease was when a commit's reply got lost
	retry, stale := before, before
	c := store.Commit{State: []byte("after 1"), Consumed: 1}
	commit(t, l, c)
	if err := s.Commit(ctxFor(t, 5*time.Second), &retry, c); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	snap := load(t, l)
	if got := ids(snap.Inbox); got != "2=b 3=c" {
		t.Errorf("a retried commit popped again: inbox %q", got)
	}
	// A different commit on the stale copy is no retry: refused.
	if err := s.Commit(ctxFor(t, 5*time.Second), &stale, store.Commit{State: []byte("other"), Consumed: 1}); !isLost(err) {
		t.Errorf("a different commit with a stale sequence number: %v, want ErrLeaseLost", err)
	}
	commit(t, l, store.Commit{State: []byte("after 2"), Consumed: 1})
	if got := ids(load(t, l).Inbox); got != "3=c" {
		t.Errorf("inbox = %q after the next commit", got)
	}
}

func testPingStats(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	ctx := ctxFor(t, 10*time.Second)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if st, err := s.Stats(ctx); err != nil || st.InboxItems != 0 || st.Signals != 0 {
		t.Fatalf("Stats of an empty store: %+v, %v", st, err)
	}
	// Items, not signals: three enqueues (three signals on Redis) of five
	// items for two contacts.
	enqueue(t, s, "c", item("1", "a"), item("2", "b"))
	enqueue(t, s, "c", item("3", "c"))
	enqueue(t, s, "d", item("4", "d"), item("5", "e"))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Signals < 1 {
		t.Errorf("Stats after an enqueue: %+v, want Signals ≥ 1", st)
	}
	if st.InboxItems != 5 {
		t.Errorf("Stats.InboxItems = %d, want 5", st.InboxItems)
	}
	// A consumed item leaves the count; one being worked on is still in it.
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if _, err := s.Load(ctx, l); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := s.Commit(ctx, l, store.Commit{Consumed: 1}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if st, err := s.Stats(ctx); err != nil || st.InboxItems != 4 {
		t.Errorf("Stats after consuming one item: %+v, %v; want 4 items", st, err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping after Close: no error")
	}
	if _, err := s.Enqueue(ctx, "c", item("3", "")); err == nil {
		t.Errorf("Enqueue after Close: no error")
	}
	if _, err := s.Acquire(ctx); err == nil {
		t.Errorf("Acquire after Close: no error")
	}
}
