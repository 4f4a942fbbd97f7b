package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

// observed returns the replica's Observed view; every store has one.
func observed(t *testing.T, s store.Store) store.Observed {
	t.Helper()
	o, ok := s.(store.Observed)
	if !ok {
		t.Fatalf("%T does not implement store.Observed", s)
	}
	return o
}

func record(t *testing.T, o store.Observed, notes ...store.Note) {
	t.Helper()
	if err := o.Record(ctxFor(t, 10*time.Second), notes...); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// allWaiting pages through a node's index with pages of limit, and fails
// if the paging does not end.
func allWaiting(t *testing.T, o store.Observed, node string, limit int) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("Waiting(%s) did not end after 1000 pages", node)
		}
		ws, next, err := o.Waiting(ctxFor(t, 10*time.Second), node, cursor, limit)
		if err != nil {
			t.Fatalf("Waiting(%s, %q): %v", node, cursor, err)
		}
		for _, w := range ws {
			out[w.Contact] = w.Since
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func counts(t *testing.T, o store.Observed, nodes ...string) []int64 {
	t.Helper()
	n, err := o.WaitingCounts(ctxFor(t, 10*time.Second), nodes)
	if err != nil {
		t.Fatalf("WaitingCounts: %v", err)
	}
	return n
}

// The node index follows the notes, is shared by replicas, pages through
// every entry, and Unindex removes an entry only if it is unchanged.
func testNodeIndex(t *testing.T, h *harness) {
	a, b := observed(t, h.replica(store.Options{})), observed(t, h.replica(store.Options{}))
	t0 := time.UnixMilli(time.Now().UnixMilli())
	record(t, a,
		store.Note{Contact: "alice", Enter: "wait", Since: t0},
		store.Note{Contact: "b{o}b", Enter: "wait", Since: t0.Add(time.Second)},
		store.Note{Contact: "carol", Enter: "ask", Since: t0})
	// Alice moves on (a turn on the other replica), carol ends her run.
	record(t, b,
		store.Note{Contact: "alice", Leave: "wait", Enter: "ask", Since: t0.Add(2 * time.Second)},
		store.Note{Contact: "carol", Leave: "ask"})
	if got := counts(t, a, "wait", "ask", "nowhere"); !slices.Equal(got, []int64{1, 1, 0}) {
		t.Errorf("counts of wait, ask, nowhere = %v, want [1 1 0]", got)
	}
	if got := allWaiting(t, b, "ask", 10); len(got) != 1 || !got["alice"].Equal(t0.Add(2*time.Second)) {
		t.Errorf("waiting at ask: %v, want alice since %v", got, t0.Add(2*time.Second))
	}
	if got := allWaiting(t, a, "wait", 10); len(got) != 1 || !got["b{o}b"].Equal(t0.Add(time.Second)) {
		t.Errorf("waiting at wait: %v, want b{o}b", got)
	}

	// Pages of 7 over 40 contacts see each of them.
	var many []store.Note
	for i := range 40 {
		many = append(many, store.Note{Contact: fmt.Sprintf("c%02d", i), Enter: "many", Since: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	record(t, a, many...)
	got := allWaiting(t, b, "many", 7)
	if len(got) != 40 {
		t.Errorf("paging saw %d of 40 contacts", len(got))
	}
	for i := range 40 {
		if s, ok := got[fmt.Sprintf("c%02d", i)]; !ok || !s.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Errorf("c%02d: since %v (listed %v)", i, s, ok)
		}
	}

	// A reader found alice stale at ask with t0+2s; she entered ask again
	// meanwhile (t0+3s): that entry stays. Then the stale one goes.
	record(t, a, store.Note{Contact: "alice", Leave: "ask", Enter: "ask", Since: t0.Add(3 * time.Second)})
	if err := b.Unindex(ctxFor(t, 10*time.Second), "ask", store.Waiter{Contact: "alice", Since: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, a, "ask"); got[0] != 1 {
		t.Errorf("Unindex removed an entry written again since: count %v", got)
	}
	if err := b.Unindex(ctxFor(t, 10*time.Second), "ask", store.Waiter{Contact: "alice", Since: t0.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, a, "ask"); got[0] != 0 {
		t.Errorf("Unindex left the stale entry: count %v", got)
	}
}

// A contact's events keep the last Keep, oldest first, are shared by
// replicas, go with Note.Forget and expire KeepFor after the last note;
// Forget (erasure) takes the events and the index entries, and refuses
// the contact's events for its hold, on every replica.
func testContactEvents(t *testing.T, h *harness) {
	a, b := observed(t, h.replica(store.Options{})), observed(t, h.replica(store.Options{}))
	ev := func(s ...string) [][]byte {
		out := make([][]byte, len(s))
		for i, x := range s {
			out[i] = []byte(x)
		}
		return out
	}
	events := func(o store.Observed, c string) []string {
		t.Helper()
		got, err := o.Events(ctxFor(t, 10*time.Second), c)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, e := range got {
			out = append(out, string(e))
		}
		return out
	}
	keep := func(n store.Note) store.Note { n.Keep, n.KeepFor = 4, time.Hour; return n }
	record(t, a, keep(store.Note{Contact: "alice", Events: ev("e1", "e2")}))
	record(t, b, keep(store.Note{Contact: "alice", Events: ev("e3", "e4", "e5")}), keep(store.Note{Contact: "bob", Events: ev("x")}))
	if got := events(a, "alice"); !slices.Equal(got, []string{"e2", "e3", "e4", "e5"}) {
		t.Errorf("alice's events: %v, want the last 4", got)
	}
	record(t, a, keep(store.Note{Contact: "alice", Forget: true, Events: ev("f1")}))
	if got := events(b, "alice"); !slices.Equal(got, []string{"f1"}) {
		t.Errorf("after Forget: %v, want [f1]", got)
	}
	if got := events(b, "nobody"); len(got) != 0 {
		t.Errorf("a contact without events: %v", got)
	}
	// An erased contact: its events and index entries go, whatever they say.
	record(t, a, store.Note{Contact: "alice", Enter: "wait", Since: time.Now()}, store.Note{Contact: "carol", Enter: "wait", Since: time.Now()})
	if err := b.Forget(ctxFor(t, 10*time.Second), "alice", []string{"ask", "wait"}, 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := events(a, "alice"); len(got) != 0 {
		t.Errorf("the events of a forgotten contact: %v", got)
	}
	if got := allWaiting(t, a, "wait", 10); len(got) != 1 || got["carol"].IsZero() {
		t.Errorf("waiting at wait after alice was forgotten: %v, want carol alone", got)
	}
	// A note of hers another replica still had on its way: dropped.
	record(t, a, keep(store.Note{Contact: "alice", Events: ev("late")}), keep(store.Note{Contact: "carol", Events: ev("c1")}))
	if got := events(b, "alice"); len(got) != 0 {
		t.Errorf("alice's events recorded within the hold: %v", got)
	}
	if got := events(b, "carol"); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("carol's events during alice's hold: %v", got)
	}
	time.Sleep(600 * time.Millisecond)
	record(t, a, keep(store.Note{Contact: "alice", Events: ev("back")}))
	if got := events(b, "alice"); !slices.Equal(got, []string{"back"}) {
		t.Errorf("alice's events after the hold: %v, want [back]", got)
	}
	record(t, a, store.Note{Contact: "bob", Events: ev("y"), Keep: 4, KeepFor: 300 * time.Millisecond})
	if got := events(a, "bob"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("bob's events: %v", got)
	}
	time.Sleep(700 * time.Millisecond)
	if got := events(a, "bob"); len(got) != 0 {
		t.Errorf("bob's events did not expire: %v", got)
	}
}

// Peek reads a contact's committed state without a lease, on any replica.
func testPeek(t *testing.T, h *harness) {
	s1, s2 := h.replica(store.Options{}), h.replica(store.Options{})
	enqueue(t, s1, "alice", item("m1", "hi"))
	l := next(t, 5*time.Second, s1)
	commit(t, l, store.Commit{Consumed: 1, State: []byte(`{"node":"wait"}`), Release: true})
	got, err := observed(t, s2).Peek(context.Background(), "nobody", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != nil || string(got[1]) != `{"node":"wait"}` {
		t.Errorf("Peek(nobody, alice) = %q", got)
	}
}
