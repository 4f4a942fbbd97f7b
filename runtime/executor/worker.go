package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// worker is the state one worker goroutine keeps from contact to contact:
// its turn driver and performer, whose buffers are reused.
type worker struct {
	driver *flow.Driver
	perf   performer
}

// work is one worker: it leases contacts with work, one at a time, until
// ctx is cancelled.
func (e *Executor) work(ctx context.Context, drainTimeout time.Duration) {
	wk := &worker{driver: flow.NewDriver(e.program, e.now), perf: performer{e: e}}
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
		e.processContact(wctx, lease, ctx, wk)
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
	wk      *worker
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
func (e *Executor) processContact(ctx context.Context, lease *store.Lease, shutdown context.Context, wk *worker) {
	stopRenew := e.keepLease(ctx, lease)
	defer stopRenew()
	snap, err := e.store.Load(ctx, lease)
	if err != nil {
		return
	}
	w := &contactWork{e: e, wk: wk, lease: lease, committed: snap.State}
	if len(snap.State) > 0 {
		if w.session = e.sessions.take(lease.Contact, snap.State); w.session == nil {
			var s flow.Session
			if err := json.Unmarshal(snap.State, &s); err != nil {
				// The contact starts over rather than stays stuck; the old
				// state is overwritten by the next commit.
				e.decodeFailed("session", lease.Contact, err)
			} else {
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

// handle carries one inbox item through a turn of the flow (flow.Driver:
// the flow is stepped, the effects performed by the executor's performer
// and their results fed back), then commits the new session with the item
// consumed and the turn's timer changes, in one atomic write.
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
			e.decodeFailed("item", w.lease.Contact, err)
			return w.commit(ctx, nil, nil)
		}
	}
	switch {
	case q.EndSession:
		return w.endSession(ctx)
	case q.Notify != nil:
		return w.retryNotification(ctx, q.Notify)
	case !q.DiscardAfter.IsZero() && e.now().After(q.DiscardAfter):
		e.log.write(q.Event.Run.RunID, w.lease.Contact, flow.Log{Event: flow.LogError,
			Message: "run discarded: it could not start before discardAfter"}, 0)
		return w.commit(ctx, nil, nil)
	}
	perf := &w.wk.perf
	perf.begin(w.lease.Contact, q)
	var timers *flow.TimerChanges
	w.session, timers = w.wk.driver.Turn(ctx, w.session, q.Event, perf)
	w.dirty = true
	if err := w.commit(ctx, timers, perf.retries); err != nil {
		return err
	}
	e.metrics.turns.Inc()
	if !q.Accepted.IsZero() {
		e.metrics.turnLatency.Observe(time.Since(q.Accepted).Seconds())
	}
	return nil
}

// retryNotification makes the next attempt of a hand-off notification
// whose retry timer fired; the session does not change.
func (w *contactWork) retryNotification(ctx context.Context, n *notification) error {
	var retry []store.Timer
	if t := w.e.attempt(ctx, w.lease.Contact, n); t != nil {
		retry = append(retry, *t)
	}
	return w.commit(ctx, nil, retry)
}

// timerPayload is the inbox item a flow timer becomes when it fires.
func timerPayload(id string) []byte {
	payload, _ := json.Marshal(queued{Event: flow.TimerFired{TimerID: id}.Event()})
	return payload
}

// commit writes the session when the turn changed it, pops the consumed
// item, and applies the timer changes: the flow's and extra ones (retries
// of notifications), atomically. A turn's effects are performed before it
// commits, so it never leaves an outbox; the commit clears any
// (Commit.Outbox nil).
func (w *contactWork) commit(ctx context.Context, t *flow.TimerChanges, extra []store.Timer) error {
	c := store.Commit{Consumed: 1, Release: w.last}
	if w.session != nil && w.dirty {
		state, err := json.Marshal(w.session)
		if err != nil {
			return err
		}
		c.State = state
	}
	if t != nil {
		for _, tm := range t.Set {
			c.SetTimers = append(c.SetTimers, store.Timer{ID: tm.ID, At: tm.At, Payload: timerPayload(tm.ID)})
		}
		c.CancelTimers = t.Cancel
	}
	c.SetTimers = append(c.SetTimers, extra...)
	start := time.Now()
	err := retryStore(ctx, func() error { return w.e.store.Commit(ctx, w.lease, c) })
	w.e.metrics.storeLatency.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	if err == nil && c.State != nil {
		w.committed, w.dirty = c.State, false
	}
	return err
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
