package executor

import (
	"context"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// Counting a turn's events: the series resolved at start, and those no
// Exits or Reasons list (a session of another revision, a reason added
// later) counted all the same, not lost.
func TestObserverCounts(t *testing.T) {
	st := store.NewMemory(store.Options{})
	defer st.Close()
	e := manualFlow(t, st, nil)
	o := e.obs
	for _, l := range []flow.Log{
		{Event: flow.LogNodeEntered, NodeID: "set"},
		{Event: flow.LogNodeLeft, NodeID: "set", Branch: "next"},
		{Event: flow.LogNodeLeft, NodeID: "set", Branch: "surprise"},
		{Event: flow.LogError, NodeID: "set", Reason: flow.ReasonRender},
		{Event: flow.LogError, NodeID: "set", Reason: "novel"},
		{Event: flow.LogError, Reason: flow.ReasonInput},
		{Event: flow.LogNodeEntered, NodeID: "gone"}, // a node of another revision
	} {
		o.count(&l)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chatflow_node_entered_total", []string{"node", "set"}, 1},
		{"chatflow_node_left_total", []string{"node", "set", "branch", "next"}, 1},
		{"chatflow_node_left_total", []string{"node", "set", "branch", "surprise"}, 1},
		{"chatflow_node_errors_total", []string{"node", "set", "reason", "render"}, 1},
		{"chatflow_node_errors_total", []string{"node", "set", "reason", "novel"}, 1},
		{"chatflow_node_errors_total", []string{"node", "", "reason", "input"}, 1},
		{"chatflow_node_errors_total", []string{"node", "end", "reason", "timeout"}, 0},
	} {
		if got := metricValue(t, e, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// A turn's note moves the contact in the node index only when where it
// rests changed: a new wait at the same node restarts its time there.
func TestTurnNotes(t *testing.T) {
	at := time.Unix(1700000000, 0)
	wait := &flow.Session{Node: "wait", Status: flow.StatusWaitingReply, Wait: flow.Wait{TimerID: "r.1"}}
	again := &flow.Session{Node: "wait", Status: flow.StatusWaitingReply, Wait: flow.Wait{TimerID: "r.2"}}
	ended := &flow.Session{Node: "end", Status: flow.StatusEnded}
	o := &observer{}
	for _, c := range []struct {
		name          string
		before, after *flow.Session
		leave, enter  string
	}{
		{"a first wait", nil, wait, "", "wait"},
		{"the same wait", wait, wait, "", ""},
		{"a new wait at the same node", wait, again, "wait", "wait"},
		{"the run ends", again, ended, "wait", ""},
	} {
		n := o.storeNote(turnNote{contact: "c", before: waitKeyOf(c.before), after: waitKeyOf(c.after), at: at})
		if n.Leave != c.leave || n.Enter != c.enter || !n.Since.Equal(at) {
			t.Errorf("%s: leave %q enter %q since %v; want %q %q", c.name, n.Leave, n.Enter, n.Since, c.leave, c.enter)
		}
	}
}

// Erasing a contact while turns of it are still queued for the store:
// the erasure comes after them, so none writes the contact's events or
// index entry back; before the writer starts and after it stops, it goes
// straight to the store.
func TestErasureComesAfterTheQueuedNotes(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(store.Options{})
	defer st.Close()
	obs := st.(store.Observed)
	e := manualFlow(t, st, nil)
	o := e.obs
	at := time.Unix(1700000000, 0)
	rest := waitKey{node: "set", status: flow.StatusWaitingReply, wait: flow.Wait{TimerID: "r.1"}}
	turn := func(contact string) turnNote {
		return turnNote{contact: contact, after: rest, at: at,
			events: []eventRecord{{At: at, RunID: "r", Log: flow.Log{Event: flow.LogNodeEntered, NodeID: "set"}}}}
	}
	left := func(contact string) (int, int64) {
		t.Helper()
		evs, err := obs.Events(ctx, contact)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := obs.WaitingCounts(ctx, []string{"set"})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs), counts[0]
	}

	if err := o.forget(ctx, "nobody"); err != nil { // no writer yet
		t.Fatalf("forget before start: %v", err)
	}
	o.start()
	for range 500 {
		o.note(turn("ann"))
	}
	o.note(turn("bob"))
	if err := o.forget(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if n, waiting := left("ann"); n != 0 || waiting != 1 {
		t.Errorf("after Ann's erasure: %d events of hers, %d waiting at set; want 0 and 1 (Bob)", n, waiting)
	}
	o.stop()
	if n, _ := left("ann"); n != 0 {
		t.Errorf("Ann's events once the writer stopped: %d, want none (written back after her erasure)", n)
	}
	if n, _ := left("bob"); n != 1 {
		t.Errorf("Bob's events: %d, want 1 (his note, written before the erasure)", n)
	}
	if err := o.forget(ctx, "bob"); err != nil {
		t.Fatalf("forget after stop: %v", err)
	}
	if n, waiting := left("bob"); n != 0 || waiting != 0 {
		t.Errorf("after Bob's erasure: %d events, %d waiting; want none", n, waiting)
	}
}
