package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

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
	e      *Executor
	wk     *worker
	lease  *store.Lease
	keeper *leaseKeeper
	// session is the contact's session; committed is the state last
	// committed (or loaded) for it, and dirty says session changed since:
	// only a clean session goes back to the cache.
	session   *flow.Session
	committed []byte
	dirty     bool
	// last is set while the lease's last known item is handled: its commit
	// also releases the lease, saving the release's round trip, unless
	// work arrived meanwhile, which this worker then goes on with.
	last bool
	// consumed is set once the item in hand was committed.
	consumed bool
	// badState is set when committed does not decode (counted once).
	badState bool
}

// processContact drains a leased contact's inbox, one event at a time.
// Once shutdown is done (the executor is stopping) it finishes the items it
// has but does not go on with new ones: the release hands them to another
// replica.
func (e *Executor) processContact(ctx context.Context, lease *store.Lease, shutdown context.Context, wk *worker) {
	keeper := e.keepLease(ctx, lease)
	defer keeper.stop()
	ctx = keeper.ctx
	snap, err := e.store.Load(ctx, lease)
	if err != nil {
		return
	}
	w := &contactWork{e: e, wk: wk, lease: lease, keeper: keeper, committed: snap.State}
	if snap.StateForged {
		// Written by something without the flow's key: the contact starts
		// over, and the next commit overwrites it.
		e.metrics.forged.WithLabelValues("session").Inc()
		e.log.write("", lease.Contact, flow.Log{Event: flow.LogError,
			Message: "the stored session is not sealed with this flow's key: ignored, the contact starts over"}, 0)
		slog.Error("a stored session is not sealed with this flow's key: ignored", "flow", e.flowID, "contact", e.hashContact(lease.Contact))
	}
	w.restore()
	defer func() {
		// An ended run is not kept: its contact's next message starts a
		// new one, and a campaign ends thousands of runs that never come
		// back. A waiting one is kept without its turn buffers.
		if !w.dirty && w.session.Waiting() && len(w.committed) > 0 {
			w.session.DropScratch()
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

// restore sets the session to the state last committed (or loaded): the
// cached decoded copy when this replica wrote it, else a fresh decode.
func (w *contactWork) restore() {
	e, contact := w.e, w.lease.Contact
	w.session, w.dirty = nil, false
	if len(w.committed) == 0 || w.badState {
		return
	}
	if w.session = e.sessions.take(contact, w.committed); w.session != nil {
		return
	}
	var s flow.Session
	if err := json.Unmarshal(w.committed, &s); err != nil {
		// The contact starts over rather than stays stuck; the old state
		// is overwritten by the next commit.
		e.decodeFailed("session", contact, err)
		w.badState = true
		return
	}
	w.session = &s
}

// leaseKeeper renews a lease while its contact is processed, so a long HTTP
// call does not let another replica take the contact over mid-turn, until
// the lease is really lost: the store says another holder has it, or no
// renewal or commit succeeded for a whole lease TTL (Redis unreachable: by
// then the lease has expired there). Then ctx is cancelled and lost is set,
// which the performer checks before each effect.
type leaseKeeper struct {
	ctx    context.Context
	cancel context.CancelFunc
	lost   atomic.Bool
	// alive is when the lease was last known to be held (UnixNano).
	alive atomic.Int64
}

func (e *Executor) keepLease(ctx context.Context, lease *store.Lease) *leaseKeeper {
	k := &leaseKeeper{}
	k.ctx, k.cancel = context.WithCancel(ctx)
	k.held()
	every := max(min(5*time.Second, e.leaseTTL/3), 10*time.Millisecond)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-k.ctx.Done():
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(k.ctx, every)
			err := e.store.Renew(rctx, lease)
			cancel()
			switch {
			case err == nil:
				k.held()
			case errors.Is(err, store.ErrLeaseLost):
				k.lose()
				return
			case errors.Is(err, store.ErrClosed) || k.ctx.Err() != nil:
				return
			case time.Since(time.Unix(0, k.alive.Load())) >= e.leaseTTL:
				k.lose()
				return
			}
		}
	}()
	return k
}

// held records that the lease was just renewed or committed.
func (k *leaseKeeper) held() { k.alive.Store(time.Now().UnixNano()) }

func (k *leaseKeeper) lose() {
	k.lost.Store(true)
	k.cancel()
}

func (k *leaseKeeper) stop() { k.cancel() }

// errUndecodable is an inbox item whose payload is not a queued event.
type errUndecodable struct{ err error }

func (e errUndecodable) Error() string { return e.err.Error() }

// handle carries one inbox item through a turn (see turn), and keeps the
// item as a dead letter when it cannot be: it is forged (not sealed with
// the flow's key), it does not decode, or the turn panicked. A panic is
// recovered: the session goes back to what was last committed and the
// worker goes on with the contact's next item.
func (w *contactWork) handle(ctx context.Context, it store.Item) (err error) {
	e := w.e
	w.consumed = false
	if it.Forged {
		e.metrics.forged.WithLabelValues("item").Inc()
		return w.deadLetter(ctx, it, reasonForged, "the item is not sealed with this flow's key: something other than its executor queued it")
	}
	reason, detail := "", ""
	func() {
		defer func() {
			if r := recover(); r != nil {
				reason, detail = reasonPanic, fmt.Sprint(r)
				slog.Error("a turn panicked: its item is kept as a dead letter", "flow", e.flowID,
					"contact", e.hashContact(w.lease.Contact), "panic", detail, "stack", string(debug.Stack()))
			}
		}()
		err = w.turn(ctx, it)
	}()
	var bad errUndecodable
	switch {
	case reason == "" && errors.As(err, &bad):
		reason, detail = reasonUndecodable, bad.Error()
		e.decodeFailed("item", w.lease.Contact, bad.err)
	case reason == "":
		return err
	case w.consumed:
		return nil // the panic came after the item was committed: nothing to keep
	}
	w.restore()
	if reason == reasonPanic {
		// A campaign run that cannot start would keep its campaign
		// waiting for it forever: it counts failed.
		e.campaignDeadLettered(ctx, w.lease.Contact, it.Payload)
	}
	return w.deadLetter(ctx, it, reason, detail)
}

// deadLetter consumes the item in hand, keeping it as a dead letter with
// the reason; the session does not change. Counted and logged.
func (w *contactWork) deadLetter(ctx context.Context, it store.Item, reason, detail string) error {
	e := w.e
	why := reason + ": " + detail
	if len(why) > 512 {
		why = why[:512]
	}
	id := it.ID
	if len(id) > 128 {
		id = id[:128]
	}
	e.metrics.deadLetters.WithLabelValues(reason).Inc()
	runID := ""
	if w.session != nil {
		runID = w.session.RunID
	}
	e.log.write(runID, w.lease.Contact, flow.Log{Event: flow.LogError, Message: fmt.Sprintf(
		"inbox item %q kept as a dead letter (%s); see GET /v1/deadletters", id, why)}, 0)
	slog.Error("inbox item kept as a dead letter", "flow", e.flowID, "contact", e.hashContact(w.lease.Contact),
		"item", id, "reason", why)
	return w.commitWith(ctx, store.Commit{Consumed: 1, DeadLetter: why, Release: w.last})
}

// turn carries one inbox item through a turn of the flow (flow.Driver:
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
func (w *contactWork) turn(ctx context.Context, it store.Item) (err error) {
	e := w.e
	q := e.items.take(itemCacheKey(w.lease.Contact, it.ID), it.Payload)
	if q == nil {
		q = new(queued)
		if err := json.Unmarshal(it.Payload, q); err != nil {
			return errUndecodable{err}
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
		e.campaignDropped(ctx, w.lease.Contact, &q.Event)
		return w.commit(ctx, nil, nil)
	}
	perf := &w.wk.perf
	tctx := ctx
	if e.tracing != nil {
		var span trace.Span
		tctx, span = e.tracing.turn(ctx, q, w.lease.Contact)
		defer func() { endTurn(span, w.session, err) }()
	}
	perf.begin(tctx, w.lease.Contact, q, w.keeper.lost.Load)
	before := waitKeyOf(w.session)
	var timers *flow.TimerChanges
	campaignMark := markOf(w.session)
	w.session, timers = w.wk.driver.Turn(tctx, w.session, q.Event, perf)
	perf.trace.finish()
	w.dirty = true
	if perf.stopped {
		// The lease was lost mid-turn: the new holder replays the item.
		return store.ErrLeaseLost
	}
	e.campaignTurn(ctx, w.lease.Contact, &q.Event, campaignMark, w.session)
	if err := w.commit(ctx, timers, perf.retries); err != nil {
		return err
	}
	e.metrics.turns.Inc()
	if !q.Accepted.IsZero() {
		e.metrics.turnLatency.WithLabelValues(triggerOf(q)).Observe(e.now().Sub(q.Accepted).Seconds())
	}
	e.obs.note(turnNote{contact: w.lease.Contact, before: before, after: waitKeyOf(w.session), at: e.now(),
		events: slices.Clone(perf.events)})
	return nil
}

// itemCacheKey is the key of a queued item in the decoded item cache: the
// contact's, so that erasing the contact drops its entries.
func itemCacheKey(contact, id string) string { return contact + "\x00" + id }

// retryNotification makes the next attempt of a hand-off notification
// whose retry timer fired; the session does not change.
func (w *contactWork) retryNotification(ctx context.Context, n *notification) error {
	var retry []store.Timer
	if t := w.e.attempt(ctx, w.lease.Contact, n); t != nil {
		retry = append(retry, *t)
	}
	return w.commit(ctx, nil, retry)
}

// timerPayload is the inbox item a flow timer becomes when it fires; the
// turn latency of a timer counts from when it was due.
func timerPayload(tm flow.Timer) []byte {
	payload, _ := json.Marshal(queued{Event: flow.TimerFired{TimerID: tm.ID}.Event(), Accepted: tm.At})
	return payload
}

// commit writes the session when the turn changed it, pops the consumed
// item, and applies the timer changes: the flow's and extra ones (retries
// of notifications), atomically.
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
			c.SetTimers = append(c.SetTimers, store.Timer{ID: tm.ID, At: tm.At, Payload: timerPayload(tm)})
		}
		c.CancelTimers = t.Cancel
	}
	c.SetTimers = append(c.SetTimers, extra...)
	return w.commitWith(ctx, c)
}

// commitWith applies c, retrying through a short outage of the store.
func (w *contactWork) commitWith(ctx context.Context, c store.Commit) error {
	e := w.e
	start := time.Now()
	full := false
	err := retryStore(ctx, func() error {
		err := e.store.Commit(ctx, w.lease, c)
		if errors.Is(err, store.ErrStoreFull) && !full {
			full = true
			e.overBudget(w.lease.Contact, budgetStoreMemory, "the session store is out of memory: the turn's commit is retried; "+
				"raise Redis's maxmemory or lower retention (see docs/operations.md)")
		}
		return err
	})
	e.metrics.storeLatency.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	w.keeper.held()
	w.consumed = true
	if c.State != nil {
		w.committed, w.dirty, w.badState = c.State, false, false
	}
	return nil
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
		if w.session.Waiting() && w.session.Campaign != "" {
			w.e.campaignDropped(ctx, w.lease.Contact, &flow.Event{Kind: flow.EventRun, Run: flow.RunStarted{Campaign: w.session.Campaign}})
		}
	}
	before := waitKeyOf(w.session)
	w.session = nil
	if err := w.commitWith(ctx, c); err != nil {
		return err
	}
	w.committed, w.dirty = nil, false
	// The session is gone, and so is what the inspector kept of it.
	w.e.obs.note(turnNote{contact: w.lease.Contact, before: before, at: w.e.now(), forget: true})
	return nil
}
