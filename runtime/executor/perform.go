package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// performer is the executor's flow.Performer: sends go through the
// channel's Sender, HTTP and model calls through the egress client (with
// the typing indicator while a model answers), hand-off notices
// and forwarded messages to the agents' system (with durable retries), log
// lines to the event log, the metrics, the contact's kept events and the
// turn's spans. One per worker; begin readies it for a turn.
type performer struct {
	e       *Executor
	contact string
	// start is when the turn began: log lines carry the time since.
	start time.Time
	// greeted is the node whose first send of this turn already went out
	// as the webhook's greeting (Viber's conversation_started): it is not
	// made again, only reported delivered to the flow.
	greeted string
	// retries are durable timers this turn adds for notifications that
	// failed, committed with the session.
	retries []store.Timer
	// lost reports whether the contact's lease was lost: from then on no
	// effect goes out (another replica replays the turn), and stopped
	// records that one was held back.
	lost    func() bool
	stopped bool
	// events are the turn's log events, kept for the session inspector
	// once the turn commits (only when the store keeps them).
	events []eventRecord
	// trace follows the turn's spans (tracing.go); inert when tracing is off.
	trace turnTrace
	// inbound is the id of the turn's inbound message until a model call
	// showed the typing indicator for it.
	inbound string
}

var _ flow.Performer = (*performer)(nil)

func (p *performer) begin(ctx context.Context, contact string, q *queued, lost func() bool) {
	p.contact, p.start, p.greeted = contact, time.Now(), ""
	p.retries = p.retries[:0]
	p.lost, p.stopped = lost, false
	p.events = p.events[:0]
	p.trace.begin(p.e.tracing, ctx, p.start)
	p.inbound = ""
	if q.Event.Kind == flow.EventInbound {
		p.inbound = q.Event.Inbound.ID
	}
	if q.Welcomed {
		p.greeted = p.e.program.GreetingNode()
	}
}

func (p *performer) Perform(ctx context.Context, s *flow.Session, eff *flow.Effect) (flow.Event, bool) {
	e := p.e
	if eff.Kind != flow.EffectLog && (p.stopped || p.lost()) {
		// The lease is gone: whoever holds the contact now replays this
		// turn from the last commit, so nothing more may go out from here.
		if !p.stopped {
			p.stopped = true
			e.metrics.leasesLost.Inc()
			slog.Warn("the contact's lease was lost mid-turn: its effects stop here, another replica replays the turn",
				"flow", e.flowID, "contact", e.hashContact(p.contact))
		}
		return flow.Event{}, false
	}
	switch eff.Kind {
	case flow.EffectLog:
		e.obs.count(&eff.Log)
		p.trace.log(&eff.Log)
		if eff.Log.Budget != "" {
			e.metrics.budgets.WithLabelValues(eff.Log.Budget).Inc()
		}
		runID := ""
		if s != nil {
			runID = s.RunID
		}
		latency := time.Since(p.start)
		e.log.write(runID, p.contact, eff.Log, latency)
		if e.obs.store != nil {
			p.events = append(p.events, eventRecord{At: e.now(), RunID: runID, Log: eff.Log, Latency: latency})
		}
	case flow.EffectSend:
		if p.greeted != "" && eff.Send.NodeID == p.greeted {
			p.greeted = ""
			return flow.SendResult{EffectID: eff.Send.ID}.Event(), true
		}
		kind := sendKind(&eff.Send.Message)
		sctx, span := p.trace.send(e.channel, kind)
		var receipt message.Receipt
		if e.sender == nil {
			receipt.Error = &message.SendError{Class: message.Permanent, Message: errNoSender.Error()}
		} else {
			receipt = e.sender.Send(sctx, eff.Send.Message)
		}
		endSend(span, &receipt)
		result := "ok"
		if receipt.Error != nil {
			result = string(receipt.Error.Class)
		}
		e.metrics.sends.WithLabelValues(kind, result).Inc()
		return flow.SendResult{EffectID: eff.Send.ID, MessageID: receipt.MessageID, Error: receipt.Error}.Event(), true
	case flow.EffectHTTPCall:
		cctx, span := p.trace.call(&eff.HTTP)
		res, budget := doHTTPCall(cctx, e.egress, eff.HTTP, e.secrets, e.idempotencyKey(p.contact, eff.HTTP.ID), e.tracing)
		endCall(span, &res)
		if budget != "" {
			e.metrics.budgets.WithLabelValues(budget).Inc()
		}
		return res.Event(), true
	case flow.EffectModelCall:
		return p.callModel(ctx, s, &eff.Model).Event(), true
	case flow.EffectHandoffNotify:
		if n := e.handoffNotice(s, &eff.Handoff); n != nil {
			p.notify(ctx, n)
		}
	case flow.EffectHandoffMessage:
		if n := e.handoffMessage(s, &eff.HandoffMessage); n != nil {
			p.notify(ctx, n)
		}
	}
	return flow.Event{}, false
}

// notify makes the first attempt of a notification; a failed one is
// retried from a durable timer committed with this turn.
func (p *performer) notify(ctx context.Context, n *notification) {
	if t := p.e.attempt(ctx, p.contact, n); t != nil {
		p.retries = append(p.retries, *t)
	}
}

// idempotencyKey is the Idempotency-Key of an HTTPRequest's call: a hash of
// the flow, the contact and the effect id, which derives from the session
// (run id and counter), so a replay of the same turn sends the same key.
func (e *Executor) idempotencyKey(contact, effectID string) string {
	h := sha256.New()
	for _, part := range []string{"chatflow-http", e.flowID, contact, effectID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
