package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// work is one worker: it leases contacts with work, one at a time, until
// ctx is cancelled.
func (e *Executor) work(ctx context.Context, drainTimeout time.Duration) {
	for {
		start := time.Now()
		lease, err := e.store.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The store is unreachable; back off instead of spinning.
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		e.metrics.storeLatency.WithLabelValues("acquire").Observe(time.Since(start).Seconds())
		// The contact is finished even when shutdown starts meanwhile, so
		// its work context outlives ctx by at most drainTimeout.
		wctx, cancel := detachWithTimeout(ctx, drainTimeout)
		e.processContact(wctx, lease, ctx)
		// A no-op when the last commit released the lease already.
		_ = retryStore(wctx, func() error { return e.store.Release(wctx, lease) })
		cancel()
	}
}

// storeRetryBudget bounds how long a commit or release is retried while the
// store is unreachable. A turn's effects are already performed when it
// commits, so giving up means the next holder replays them; retrying the
// same commit (the store applies it at most once) through a short outage
// avoids that, and releasing the lease avoids leaving the contact to wait a
// lease TTL for takeover.
const storeRetryBudget = 10 * time.Second

// retryStore retries op with backoff while it fails for a reason other than
// a lost lease, within storeRetryBudget.
func retryStore(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(storeRetryBudget)
	delay := 50 * time.Millisecond
	for {
		err := op()
		if err == nil || errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrClosed) ||
			ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// detachWithTimeout returns a context that ignores parent's cancellation
// until timeout has passed after it.
func detachWithTimeout(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(timeout, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}

// contactWork is the state of one leased contact while it is processed.
type contactWork struct {
	e       *Executor
	lease   *store.Lease
	session *flow.Session
	// committed is the state last committed (or loaded) for session, and
	// dirty says session changed since: only a clean session goes back to
	// the cache.
	committed []byte
	dirty     bool
	// last is set while the lease's last known item is handled: its commit
	// also releases the lease, saving the release's round trip, unless
	// work arrived meanwhile, which this worker then goes on with.
	last bool
}

// processContact drains a leased contact's inbox, one event at a time.
// Once shutdown is done (the executor is stopping) it finishes the items it
// has but does not go on with new ones: the release hands them to another
// replica.
func (e *Executor) processContact(ctx context.Context, lease *store.Lease, shutdown context.Context) {
	stopRenew := e.keepLease(ctx, lease)
	defer stopRenew()
	snap, err := e.store.Load(ctx, lease)
	if err != nil {
		return
	}
	w := &contactWork{e: e, lease: lease, committed: snap.State}
	if len(snap.State) > 0 {
		if w.session = e.sessions.take(lease.Contact, snap.State); w.session == nil {
			var s flow.Session
			if err := json.Unmarshal(snap.State, &s); err == nil {
				w.session = &s
			}
		}
	}
	defer func() {
		if !w.dirty && w.session != nil && len(w.committed) > 0 {
			e.sessions.put(lease.Contact, w.committed, w.session)
		}
	}()
	for {
		for i, it := range snap.Inbox {
			w.last = i == len(snap.Inbox)-1
			if err := w.handle(ctx, it); err != nil {
				return // lease lost or store down: the item stays queued for the next holder
			}
		}
		if len(snap.Inbox) == 0 || lease.Released() || shutdown.Err() != nil {
			return
		}
		// The last commit found items that arrived meanwhile and kept the
		// lease: go on with them (on Redis the commit's reply carried them).
		if snap, err = e.store.Load(ctx, lease); err != nil {
			return
		}
		if !bytes.Equal(snap.State, w.committed) {
			return // not what this lease committed: leave it to a fresh lease
		}
	}
}

// keepLease renews the lease while a contact is processed, so a long HTTP
// call does not let another replica take the contact over mid-turn.
func (e *Executor) keepLease(ctx context.Context, lease *store.Lease) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := e.store.Renew(ctx, lease); err != nil {
					return
				}
			}
		}
	}()
	return cancel
}

// handle steps the flow with one inbox item, performs the effects and feeds
// their results back, then commits the new session with the item consumed,
// in one atomic write.
//
// The effects are performed before that write: if the worker dies in
// between, the item is still queued and the next holder replays the turn
// from the last committed session. Its sends are then made again — the
// at-least-once the design promises — while the session still moves exactly
// once per item. One write per turn, instead of one before the effects and
// one after, halves the store round trips of a turn.
func (w *contactWork) handle(ctx context.Context, it store.Item) error {
	e := w.e
	q := e.items.take(it.ID, it.Payload)
	if q == nil {
		q = new(queued)
		if err := json.Unmarshal(it.Payload, q); err != nil {
			// An undecodable item can never succeed; consume it so it does
			// not block the contact forever.
			return w.commit(ctx, 1, nil)
		}
	}
	if q.EndSession {
		return w.endSession(ctx)
	}
	if !q.DiscardAfter.IsZero() && e.now().After(q.DiscardAfter) {
		e.log.write(q.Event.Run.RunID, w.lease.Contact, flow.Log{Event: flow.LogError,
			Message: "run discarded: it could not start before discardAfter"}, 0)
		return w.commit(ctx, 1, nil)
	}
	io, timers := w.split(w.step(q.Event))
	if q.Welcomed {
		io = w.skipWelcome(io, timers)
	}
	w.run(ctx, io, timers)
	if err := w.commit(ctx, 1, timers); err != nil {
		return err
	}
	if !q.Accepted.IsZero() {
		e.metrics.turnLatency.Observe(time.Since(q.Accepted).Seconds())
	}
	return nil
}

// step runs the interpreter and writes the log effects.
func (w *contactWork) step(ev flow.Event) []flow.Effect {
	e := w.e
	start := time.Now()
	var effects []flow.Effect
	w.session, effects = flow.Step(e.program, w.session, ev, e.now())
	w.dirty = true
	e.metrics.turns.Inc()
	latency := time.Since(start)
	for _, eff := range effects {
		if eff.Kind != flow.EffectLog {
			continue
		}
		if eff.Log.Event == flow.LogError {
			e.metrics.nodeErrors.WithLabelValues(string(eff.Log.NodeType)).Inc()
		}
		runID := ""
		if w.session != nil {
			runID = w.session.RunID
		}
		e.log.write(runID, w.lease.Contact, eff.Log, latency)
	}
	return effects
}

// timerOps are the timer changes of one step.
type timerOps struct {
	set    []store.Timer
	cancel []string
}

// skipWelcome drops the run's first send, which went out as the webhook's
// welcome message, and tells the flow it was delivered.
func (w *contactWork) skipWelcome(io []flow.Effect, t *timerOps) []flow.Effect {
	for i, eff := range io {
		if eff.Kind != flow.EffectSend {
			continue
		}
		rest := append(append([]flow.Effect(nil), io[:i]...), io[i+1:]...)
		more, timers := w.split(w.step(flow.SendResult{EffectID: eff.Send.ID}.Event()))
		t.merge(timers)
		return append(rest, more...)
	}
	return io
}

// merge appends the timer changes of a later step. A timer set and
// cancelled within one turn is neither stored nor left to fire.
func (t *timerOps) merge(later *timerOps) {
	for _, id := range later.cancel {
		kept := t.set[:0]
		for _, set := range t.set {
			if set.ID != id {
				kept = append(kept, set)
			}
		}
		t.set = kept
		t.cancel = append(t.cancel, id)
	}
	for _, set := range later.set {
		t.cancel = slices.DeleteFunc(t.cancel, func(id string) bool { return id == set.ID })
		t.set = append(t.set, set)
	}
}

// split separates the effects to perform (sends, HTTP calls, hand-off
// notices) from the timer changes the store applies itself.
func (w *contactWork) split(effects []flow.Effect) ([]flow.Effect, *timerOps) {
	var io []flow.Effect
	var t timerOps
	for _, eff := range effects {
		switch eff.Kind {
		case flow.EffectSend, flow.EffectHTTPCall, flow.EffectHandoffNotify:
			io = append(io, eff)
		case flow.EffectSetTimer:
			payload, _ := json.Marshal(queued{Event: flow.TimerFired{TimerID: eff.Timer.ID}.Event()})
			t.set = append(t.set, store.Timer{ID: eff.Timer.ID, At: eff.Timer.At, Payload: payload})
		case flow.EffectCancelTimer:
			t.cancel = append(t.cancel, eff.Timer.ID)
		}
	}
	return io, &t
}

// commit writes the session and pops consumed inbox items, atomically. A
// turn's effects are performed before it commits, so it never leaves an
// outbox; the commit clears any (Commit.Outbox nil).
func (w *contactWork) commit(ctx context.Context, consumed int, t *timerOps) error {
	c := store.Commit{Consumed: consumed, Release: w.last}
	if w.session != nil {
		state, err := json.Marshal(w.session)
		if err != nil {
			return err
		}
		c.State = state
	}
	if t != nil {
		c.SetTimers, c.CancelTimers = t.set, t.cancel
	}
	start := time.Now()
	err := retryStore(ctx, func() error { return w.e.store.Commit(ctx, w.lease, c) })
	w.e.metrics.storeLatency.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	if err == nil && c.State != nil {
		w.committed, w.dirty = c.State, false
	}
	return err
}

// run performs effects in order; each result (a send receipt, an HTTP
// response) is fed back into the flow at once and the effects it produces
// join the queue. Timer changes are collected into t for the commit.
func (w *contactWork) run(ctx context.Context, queue []flow.Effect, t *timerOps) {
	for len(queue) > 0 {
		eff := queue[0]
		queue = queue[1:]
		if ev, ok := w.e.execute(ctx, w.lease.Contact, eff); ok {
			more, timers := w.split(w.step(ev))
			queue = append(queue, more...)
			t.merge(timers)
		}
	}
}

// execute performs one effect and returns the event that reports its result
// to the flow, if the flow wants one.
func (e *Executor) execute(ctx context.Context, contact string, eff flow.Effect) (flow.Event, bool) {
	switch eff.Kind {
	case flow.EffectSend:
		var receipt message.Receipt
		if e.sender == nil {
			receipt.Error = &message.SendError{Class: message.Permanent, Message: errNoSender.Error()}
		} else {
			receipt = e.sender.Send(ctx, eff.Send.Message)
		}
		result := "ok"
		if receipt.Error != nil {
			result = string(receipt.Error.Class)
		}
		e.metrics.sends.WithLabelValues(result).Inc()
		return flow.SendResult{EffectID: eff.Send.ID, MessageID: receipt.MessageID, Error: receipt.Error}.Event(), true
	case flow.EffectHTTPCall:
		return doHTTPCall(ctx, e.egress, eff.HTTP, e.secrets).Event(), true
	case flow.EffectHandoffNotify:
		e.notifyHandoff(ctx, eff.Handoff)
	}
	return flow.Event{}, false
}

// notifyHandoff tells the agents' system about a hand-off. It is best
// effort: the hand-off itself (automation paused) does not depend on it.
func (e *Executor) notifyHandoff(ctx context.Context, h flow.HandoffNotify) {
	if h.URL == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{
		"flow": e.flowName, "revision": e.program.Revision(), "queue": h.Queue,
		"contact": h.Contact, "node": h.NodeID,
	})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.egress.Do(req)
	if err != nil {
		e.log.write("", h.Contact.ID, flow.Log{Event: flow.LogError, NodeID: h.NodeID,
			Message: "hand-off notification failed: " + redactURL(err.Error())}, 0)
		return
	}
	resp.Body.Close()
}

// redactURL drops query strings from an error text (they may hold tokens).
func redactURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		if j := strings.IndexAny(s[i:], "\" "); j > 0 {
			return s[:i] + s[i+j:]
		}
		return s[:i]
	}
	return s
}

// endSession deletes the contact's session, its pending effects and its
// pending timer: the contact left (Viber unsubscribed), and a later message
// starts a new run.
func (w *contactWork) endSession(ctx context.Context) error {
	c := store.Commit{Consumed: 1, DeleteState: true, Release: w.last}
	if w.session != nil && w.session.Wait.TimerID != "" {
		c.CancelTimers = []string{w.session.Wait.TimerID}
	}
	if w.session != nil {
		w.e.log.write(w.session.RunID, w.lease.Contact, flow.Log{Event: flow.LogRunEnded,
			Message: "the contact unsubscribed: session ended"}, 0)
	}
	w.session = nil
	if err := w.e.store.Commit(ctx, w.lease, c); err != nil {
		return err
	}
	w.committed, w.dirty = nil, false
	return nil
}
