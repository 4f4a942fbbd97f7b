package executor

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// What the executor keeps of each contact for people (store.Observed):
// the last keptEvents events, for keptEventsFor after the contact's last
// turn. A few kilobytes per contact at most.
const (
	keptEvents    = 50
	keptEventsFor = 7 * 24 * time.Hour
	// forgetHold: after an erasure, how long the store drops the
	// contact's events, covering the notes other replicas still had on
	// their way (a writer gives up on a batch after 10s).
	forgetHold = time.Minute
)

// observer counts what the flow's nodes do, keeps the node index and the
// contacts' events up to date in the store, and samples the waiting gauge.
// Its series are resolved once per node at start, so counting an event of
// a turn is a map lookup and an atomic add.
type observer struct {
	metrics   *metrics
	namespace string
	flow      string
	nodes     map[string]*nodeObs
	order     []string       // node ids in spec order
	run       *nodeObs       // errors of no node (a rejected run)
	store     store.Observed // nil when the store keeps nothing for people

	// mu guards notes against a send after stop closed it: erasures
	// (forget) come from HTTP handlers, which may outlive the workers.
	mu      sync.RWMutex
	notes   chan turnNote // nil until start
	stopped bool
	done    chan struct{}

	sweepNode   int               // the node whose index entries the next sweep checks
	sweepCursor map[string]string // where each node's sweep goes on
	warned      time.Time         // last warning about a failed Record
}

// nodeObs are the series of one node.
type nodeObs struct {
	id      string
	entered prometheus.Counter
	exits   []exitCounter
	errors  []prometheus.Counter // by index in flow.Reasons
	waiting prometheus.Gauge
}

type exitCounter struct {
	branch string
	c      prometheus.Counter
}

func newObserver(m *metrics, namespace, flowName string, p *flow.Program, st store.Store) *observer {
	o := &observer{metrics: m, namespace: namespace, flow: flowName, nodes: map[string]*nodeObs{},
		sweepCursor: map[string]string{}}
	o.store, _ = st.(store.Observed)
	o.run = o.resolve(flow.NodeInfo{})
	for _, n := range p.Nodes() {
		o.nodes[n.ID] = o.resolve(n)
		o.order = append(o.order, n.ID)
	}
	return o
}

// resolve creates the node's series, so they exist (at zero) before the
// node first runs and cost no label lookup when it does.
func (o *observer) resolve(n flow.NodeInfo) *nodeObs {
	m := o.metrics
	no := &nodeObs{id: n.ID, errors: make([]prometheus.Counter, len(flow.Reasons))}
	for i, r := range flow.Reasons {
		no.errors[i] = m.nodeErrors.WithLabelValues(n.ID, string(r))
	}
	if n.ID == "" {
		return no
	}
	no.entered = m.nodeEntered.WithLabelValues(n.ID)
	no.waiting = m.nodeWaiting.WithLabelValues(n.ID)
	for _, b := range n.Exits {
		no.exits = append(no.exits, exitCounter{b, m.nodeLeft.WithLabelValues(n.ID, b)})
	}
	return no
}

// count counts one log event of a turn.
func (o *observer) count(l *flow.Log) {
	n := o.nodes[l.NodeID]
	if n == nil {
		if l.NodeID != "" {
			return // a node of another revision (a session migrating)
		}
		n = o.run
	}
	switch l.Event {
	case flow.LogNodeEntered:
		if n.entered != nil {
			n.entered.Inc()
		}
	case flow.LogNodeLeft:
		for i := range n.exits {
			if n.exits[i].branch == l.Branch {
				n.exits[i].c.Inc()
				return
			}
		}
		// Not among the exits flow.Program.Nodes lists: still counted.
		o.metrics.nodeLeft.WithLabelValues(n.id, l.Branch).Inc()
	}
	if l.Reason == "" {
		return
	}
	for i, r := range flow.Reasons {
		if r == l.Reason {
			n.errors[i].Inc()
			return
		}
	}
	o.metrics.nodeErrors.WithLabelValues(n.id, string(l.Reason)).Inc()
}

// forget deletes what the store keeps of an erased contact for people:
// its events and its entries in the node index. It goes through the
// writer, after the notes queued before it, so that a turn that committed
// just before the erasure does not write the contact's events back once
// they are gone.
func (o *observer) forget(ctx context.Context, contact string) error {
	if o.store == nil {
		return nil
	}
	o.mu.RLock()
	if o.notes == nil || o.stopped { // no writer: nothing queued
		o.mu.RUnlock()
		return o.store.Forget(ctx, contact, o.order, forgetHold)
	}
	done := make(chan error, 1)
	select {
	case o.notes <- turnNote{contact: contact, erased: done}:
		o.mu.RUnlock()
	case <-ctx.Done():
		o.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendKind names an outbound message's kind for chatflow_sends_total.
func sendKind(m *message.Outbound) string {
	switch {
	case m.Template != nil:
		return "template"
	case m.List != nil:
		return "list"
	case len(m.Buttons) > 0:
		return "buttons"
	case len(m.QuickReplies) > 0:
		return "quick_replies"
	case m.Media != nil:
		return string(m.Media.Kind)
	}
	return "text"
}

// eventRecord is an execution event of a turn, kept for the inspector.
type eventRecord struct {
	At      time.Time
	RunID   string
	Log     flow.Log
	Latency time.Duration
}

// EventView is an execution event as the store keeps it and the inspector
// shows it (GET /v1/contacts/{id}): the event log's fields
// (docs/operations.md) and the error's reason class.
type EventView struct {
	Time     time.Time     `json:"time"`
	RunID    string        `json:"runId,omitempty"`
	Event    flow.LogEvent `json:"event"`
	NodeID   string        `json:"nodeId,omitempty"`
	NodeType string        `json:"nodeType,omitempty"`
	Branch   string        `json:"branch,omitempty"`
	Reason   flow.Reason   `json:"reason,omitempty"`
	Message  string        `json:"message,omitempty"`
	// Budget names the limit that bit, on an error that comes from one.
	Budget    string  `json:"budget,omitempty"`
	LatencyMS float64 `json:"latencyMs,omitempty"`
}

func newEventView(at time.Time, runID string, l *flow.Log, latency time.Duration) EventView {
	ev := EventView{Time: at.UTC(), RunID: runID, Event: l.Event, NodeID: l.NodeID, NodeType: string(l.NodeType),
		Branch: l.Branch, Reason: l.Reason, Message: l.Message, Budget: l.Budget}
	if latency > 0 {
		ev.LatencyMS = float64(latency.Microseconds()) / 1000
	}
	return ev
}

// waitKey is where a session rests: the node it waits at and the wait
// itself, so that a new wait at the same node (a loop) restarts the
// contact's time there. The zero value: not waiting (no session, ended).
type waitKey struct {
	node   string
	status flow.Status
	wait   flow.Wait
}

func waitKeyOf(s *flow.Session) waitKey {
	if !s.Waiting() {
		return waitKey{}
	}
	return waitKey{node: s.Node, status: s.Status, wait: s.Wait}
}

// turnNote is what a committed turn tells the observer.
type turnNote struct {
	contact       string
	before, after waitKey
	at            time.Time
	events        []eventRecord
	forget        bool
	// erased, when set, makes the note an erasure (observer.forget): the
	// writer deletes the contact's events and index entries and answers.
	erased chan<- error
}

// note queues a committed turn's changes for the store. It blocks when
// the writer lags far behind, so a store that cannot keep up slows the
// turns rather than losing the index.
func (o *observer) note(n turnNote) {
	if o.store == nil || o.notes == nil || (n.before == n.after && len(n.events) == 0 && !n.forget) {
		return
	}
	o.notes <- n
}

// start runs the writer of notes until stop.
func (o *observer) start() {
	o.mu.Lock()
	o.notes = make(chan turnNote, 1024)
	o.done = make(chan struct{})
	o.mu.Unlock()
	go o.write()
}

// stop flushes the notes queued and ends the writer. Call it once the
// workers are done.
func (o *observer) stop() {
	o.mu.Lock()
	o.stopped = true
	close(o.notes)
	o.mu.Unlock()
	<-o.done
}

// write records queued notes, as many at once as are waiting: one round
// trip for all the turns that committed meanwhile.
func (o *observer) write() {
	defer close(o.done)
	batch := make([]store.Note, 0, 256)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := o.store.Record(ctx, batch...); err != nil && time.Since(o.warned) > time.Minute {
			o.warned = time.Now()
			slog.Warn("could not record the node index and contact events (the session inspector may lag)", "flow", o.flow, "error", err.Error())
		}
		cancel()
		batch = batch[:0]
	}
	take := func(n turnNote) {
		if n.erased == nil {
			batch = append(batch, o.storeNote(n))
			return
		}
		flush() // what came before the erasure, first
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n.erased <- o.store.Forget(ctx, n.contact, o.order, forgetHold)
		cancel()
	}
	for n := range o.notes {
		take(n)
	more:
		for len(batch) < cap(batch) {
			select {
			case n, ok := <-o.notes:
				if !ok {
					break more
				}
				take(n)
			default:
				break more
			}
		}
		flush()
	}
}

func (o *observer) storeNote(n turnNote) store.Note {
	sn := store.Note{Contact: n.contact, Since: n.at, Keep: keptEvents, KeepFor: keptEventsFor, Forget: n.forget}
	if n.before != n.after {
		sn.Leave, sn.Enter = n.before.node, n.after.node
	}
	for i := range n.events {
		r := &n.events[i]
		if b, err := json.Marshal(newEventView(r.At, r.RunID, &r.Log, r.Latency)); err == nil {
			sn.Events = append(sn.Events, b)
		}
	}
	return sn
}

// sampleWaiting sets the waiting gauge from the store's node index, after
// checking part of it: every call checks a page of one node's entries
// against the sessions and removes the stale ones, in turn, so stale
// entries do not stay counted.
func (o *observer) sampleWaiting(ctx context.Context) {
	if o.store == nil || len(o.order) == 0 {
		return
	}
	node := o.order[o.sweepNode%len(o.order)]
	o.sweepNode++
	if _, next, err := o.waiting(ctx, node, o.sweepCursor[node], 100); err == nil {
		o.sweepCursor[node] = next
	}
	counts, err := o.store.WaitingCounts(ctx, o.order)
	if err != nil {
		return
	}
	for i, id := range o.order {
		o.nodes[id].waiting.Set(float64(counts[i]))
	}
}

// waiting reads a page of the node's index, checks each contact's session
// (does it still wait at node?), removes the entries that are stale, and
// returns the live ones with their sessions, and the next cursor.
func (o *observer) waiting(ctx context.Context, node, cursor string, limit int) ([]waiter, string, error) {
	ws, next, err := o.store.Waiting(ctx, node, cursor, limit)
	if err != nil || len(ws) == 0 {
		return nil, next, err
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.Contact
	}
	states, err := o.store.Peek(ctx, ids...)
	if err != nil {
		return nil, "", err
	}
	var live []waiter
	var stale []store.Waiter
	for i, w := range ws {
		var s flow.Session
		if states[i] == nil || json.Unmarshal(states[i], &s) != nil || !s.Waiting() || s.Node != node {
			stale = append(stale, w)
			continue
		}
		live = append(live, waiter{Waiter: w, session: &s})
	}
	if len(stale) > 0 {
		_ = o.store.Unindex(ctx, node, stale...)
	}
	return live, next, nil
}

// waiter is a contact found waiting at a node, with its session.
type waiter struct {
	store.Waiter
	session *flow.Session
}
