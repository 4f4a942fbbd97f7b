package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

// testInboxCap: a full inbox keeps its oldest items and refuses the rest
// with ErrInboxFull, without remembering them, so the channel's retry is
// accepted once there is room again.
func testInboxCap(t *testing.T, h *harness) {
	s := h.replica(store.Options{MaxInbox: 3})
	ctx := ctxFor(t, 10*time.Second)
	enqueue(t, s, "c", item("a", "1"), item("b", "2"))
	n, err := s.Enqueue(ctx, "c", item("c", "3"), item("d", "4"), item("e", "5"))
	if n != 1 || !errors.Is(err, store.ErrInboxFull) {
		t.Fatalf("enqueue beyond the cap: accepted %d, %v; want 1 and ErrInboxFull", n, err)
	}
	// A duplicate takes no room and is no error.
	if n, err := s.Enqueue(ctx, "c", item("a", "again")); n != 0 || err != nil {
		t.Errorf("a duplicate into a full inbox: %d, %v; want 0, nil", n, err)
	}
	// Another contact has its own room.
	enqueue(t, s, "other", item("x", "x"))
	l := next(t, 5*time.Second, s)
	for l.Contact != "c" {
		commit(t, l, store.Commit{Consumed: len(l.snap.Inbox)})
		release(t, l)
		l = next(t, 5*time.Second, s)
	}
	if got := ids(l.snap.Inbox); got != "a=1 b=2 c=3" {
		t.Errorf("full inbox holds %q, want the oldest: a=1 b=2 c=3", got)
	}
	commit(t, l, store.Commit{Consumed: 3})
	release(t, l)
	if n := enqueue(t, s, "c", item("d", "4"), item("e", "5")); n != 2 {
		t.Errorf("the refused items, retried with room: accepted %d, want 2", n)
	}
}

// testDeadLetters: an item consumed with a dead letter reason is kept with
// it; a retry queues it again behind the contact's other items, once.
func testDeadLetters(t *testing.T, h *harness) {
	s := h.replica(store.Options{})
	ctx := ctxFor(t, 10*time.Second)
	enqueue(t, s, "c", item("bad", "boom"), item("next", "ok"))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{Consumed: 1, DeadLetter: "panic: index out of range"})
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 {
		t.Fatalf("dead letters %+v, want one", dl)
	}
	d := dl[0]
	if d.Contact != "c" || d.Reason != "panic: index out of range" || d.Item.ID != "bad" ||
		string(d.Item.Payload) != "boom" || d.Item.Forged || d.ID == "" || time.Since(d.At) > time.Minute {
		t.Errorf("dead letter %+v", d)
	}
	if got := ids(load(t, l).Inbox); got != "next=ok" {
		t.Errorf("inbox after the dead letter: %q, want next=ok", got)
	}
	commit(t, l, store.Commit{State: []byte("s"), Consumed: 1})
	release(t, l)
	if err := s.RetryDeadLetter(ctx, d.ID); err != nil {
		t.Fatalf("RetryDeadLetter: %v", err)
	}
	if err := s.RetryDeadLetter(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retrying it twice: %v, want ErrNotFound", err)
	}
	if err := s.RetryDeadLetter(ctx, "no-such-id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retrying an unknown id: %v, want ErrNotFound", err)
	}
	l = next(t, 5*time.Second, s)
	if got := ids(l.snap.Inbox); l.Contact != "c" || got != "bad=boom" || string(l.snap.State) != "s" {
		t.Errorf("after the retry: %s %q state %q, want c bad=boom s", l.Contact, got, l.snap.State)
	}
	if dl, _ := s.DeadLetters(ctx, 10); len(dl) != 0 {
		t.Errorf("a retried dead letter is still listed: %+v", dl)
	}
}

// testDeadLettersBounded: beyond MaxDeadLetters the oldest go, and the
// store says how many through Options.Dropped.
func testDeadLettersBounded(t *testing.T, h *harness) {
	var mu sync.Mutex
	dropped := map[string]int{}
	s := h.replica(store.Options{MaxDeadLetters: 2, Dropped: func(budget string, n int) {
		mu.Lock()
		dropped[budget] += n
		mu.Unlock()
	}})
	enqueue(t, s, "c", item("1", ""), item("2", ""), item("3", ""))
	l := next(t, 5*time.Second, s)
	for range 3 {
		commit(t, l, store.Commit{Consumed: 1, DeadLetter: "r"})
	}
	release(t, l)
	dl, err := s.DeadLetters(ctxFor(t, 5*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || dl[0].Item.ID != "2" || dl[1].Item.ID != "3" {
		t.Errorf("dead letters %+v, want items 2 and 3 (the newest two)", dl)
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped[store.BudgetDeadLetters] != 1 {
		t.Errorf("Dropped reported %v, want 1 dead letter", dropped)
	}
}

// testErase: erasing a contact removes its session, inbox, timers, dedupe
// records, dead letters and lease, and nothing of other contacts.
func testErase(t *testing.T, h *harness) {
	s := h.replica(store.Options{LeaseTTL: time.Minute})
	ctx := ctxFor(t, 20*time.Second)
	enqueue(t, s, "keep", item("k1", "k"))
	l := next(t, 5*time.Second, s)
	commit(t, l, store.Commit{State: []byte("kept"), Consumed: 1})
	release(t, l)
	enqueue(t, s, "c", item("dead", "x"), item("m1", "a"))
	l = next(t, 5*time.Second, s)
	commit(t, l, store.Commit{Consumed: 1, DeadLetter: "panic"})
	commit(t, l, store.Commit{State: []byte("session"), Consumed: 1, SetTimers: []store.Timer{
		{ID: "soon", At: time.Now().Add(1500 * time.Millisecond), Payload: []byte("t")},
		{ID: "later", At: time.Now().Add(time.Hour)},
	}})
	enqueue(t, s, "c", item("m2", "b")) // queued while held
	got, err := s.Erase(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Erased{Session: true, InboxItems: 1, Timers: 2, DedupeRecords: 3, DeadLetters: 1}); got != want {
		t.Errorf("Erase = %+v, want %+v", got, want)
	}
	// The holder lost its lease: nothing it commits comes back.
	if err := l.Store.Commit(ctx, l.Lease, store.Commit{State: []byte("zombie"), Consumed: 1}); !isLost(err) {
		t.Errorf("commit after the erase: %v, want ErrLeaseLost", err)
	}
	_ = l.Store.Release(ctx, l.Lease)
	if dl, _ := s.DeadLetters(ctx, 10); len(dl) != 0 {
		t.Errorf("dead letters after the erase: %+v", dl)
	}
	// Dedupe records are gone: the old message is new again.
	if n := enqueue(t, s, "c", item("m1", "again")); n != 1 {
		t.Errorf("an erased contact's old message ID accepted %d times, want 1", n)
	}
	l = next(t, 5*time.Second, s)
	if l.Contact != "c" || l.snap.State != nil || ids(l.snap.Inbox) != "m1=again" {
		t.Errorf("after the erase: %s state %q inbox %q, want c, no state, m1=again", l.Contact, l.snap.State, ids(l.snap.Inbox))
	}
	commit(t, l, store.Commit{Consumed: 1})
	release(t, l)
	// No erased timer fires.
	if got := collect(t, 2500*time.Millisecond, s); len(got["c"]) != 0 {
		t.Errorf("an erased timer fired: %q", ids(got["c"]))
	}
	if again, err := s.Erase(ctx, "c"); err != nil || again.Session || again.Timers != 0 {
		t.Errorf("erasing again: %+v %v", again, err)
	}
	if again, err := s.Erase(ctx, "never-seen"); err != nil || again != (store.Erased{}) {
		t.Errorf("erasing an unknown contact: %+v %v", again, err)
	}
	// Another contact is untouched.
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := enqueue(t, s, "keep", item("k1", "dup")); n != 0 {
		t.Errorf("another contact's dedupe record was erased")
	}
	enqueue(t, s, "keep", item("k2", "k"))
	l = next(t, 5*time.Second, s)
	if l.Contact != "keep" || string(l.snap.State) != "kept" {
		t.Errorf("another contact after the erase: %s state %q, want keep kept", l.Contact, l.snap.State)
	}
}

// testIdleExpiry: a session is forgotten SessionIdleTimeout after its last
// commit, but not before a timer it set is due.
func testIdleExpiry(t *testing.T, h *harness) {
	s := h.replica(store.Options{SessionIdleTimeout: time.Second, LeaseTTL: time.Minute})
	start := time.Now()
	enqueue(t, s, "idle", item("1", ""))
	enqueue(t, s, "waiting", item("1", ""))
	for range 2 {
		l := next(t, 5*time.Second, s)
		c := store.Commit{State: []byte("s-" + l.Contact), Consumed: 1, Release: true}
		if l.Contact == "waiting" {
			c.SetTimers = []store.Timer{{ID: "wake", At: start.Add(1500 * time.Millisecond), Payload: []byte("w")}}
		}
		commit(t, l, c)
	}
	// The timer fires after the idle timeout: the session is still there.
	l := next(t, 5*time.Second, s)
	if got := string(l.snap.State) + " " + ids(l.snap.Inbox); l.Contact != "waiting" || got != "s-waiting timer:wake=w" {
		t.Errorf("%s: %q, want the session whose timer was due after the idle timeout: s-waiting timer:wake=w", l.Contact, got)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the timer fired after %v, before the idle timeout", waited)
	}
	commit(t, l, store.Commit{Consumed: len(l.snap.Inbox)})
	release(t, l)
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	enqueue(t, s, "idle", item("2", ""))
	l = next(t, 5*time.Second, s)
	if got := string(l.snap.State) + " " + ids(l.snap.Inbox); l.Contact != "idle" || got != " 2=" {
		t.Errorf("%s after its idle timeout: %q, want no state", l.Contact, got)
	}
}
