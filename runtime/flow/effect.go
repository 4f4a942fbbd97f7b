package flow

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// EffectKind says what the executor must do.
type EffectKind string

// The effect kinds.
const (
	EffectSend          EffectKind = "send"
	EffectHTTPCall      EffectKind = "http"
	EffectSetTimer      EffectKind = "setTimer"
	EffectCancelTimer   EffectKind = "cancelTimer"
	EffectHandoffNotify EffectKind = "handoff"
	// EffectHandoffMessage forwards what the contact writes during a
	// hand-off to the agents' system.
	EffectHandoffMessage EffectKind = "handoffMessage"
	EffectLog            EffectKind = "log"
	// EffectModelCall asks a language model (AI nodes); the performer
	// answers with a ModelResult.
	EffectModelCall EffectKind = "model"
)

// Effect is one output of Step: one struct with a Kind (see Event for why).
// Only the member of the Kind is set.
type Effect struct {
	Kind           EffectKind     `json:"kind"`
	Send           Send           `json:"send,omitzero"`
	HTTP           HTTPCall       `json:"http,omitzero"`
	Timer          Timer          `json:"timer,omitzero"`
	Handoff        HandoffNotify  `json:"handoff,omitzero"`
	HandoffMessage HandoffMessage `json:"handoffMessage,omitzero"`
	Log            Log            `json:"log,omitzero"`
	Model          ModelCall      `json:"model,omitzero"`
}

// Send sends a message to the contact; the executor answers with a SendResult.
type Send struct {
	ID      string           `json:"id"`
	NodeID  string           `json:"nodeId"`
	Message message.Outbound `json:"message"`
}

// HTTPCall calls an HTTP API; the executor answers with an HTTPResult.
type HTTPCall struct {
	ID      string        `json:"id"`
	NodeID  string        `json:"nodeId"`
	Method  string        `json:"method"`
	URL     string        `json:"url"`
	Headers []Header      `json:"headers,omitempty"`
	Body    string        `json:"body,omitempty"`
	Timeout time.Duration `json:"timeout"`
}

// Header is a request header. A header from a Secret has SecretRef set and
// no Value: the executor reads the Secret, so secrets never enter a session
// or a log.
type Header struct {
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	SecretRef SecretRef `json:"secretRef,omitzero"`
}

// SecretRef selects a key of a Secret in the flow's namespace.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Timer is a SetTimer (ID and At) or a CancelTimer (ID). A due timer comes
// back as TimerFired.
type Timer struct {
	ID string    `json:"id"`
	At time.Time `json:"at,omitzero"`
}

// HandoffNotify tells the agents' system that a contact is handed off. URL
// is the node's notifyURL, empty when it has none (the executor may still
// have a default destination). Transcript is the recent conversation,
// oldest first (Session.Recent when the hand-off began).
type HandoffNotify struct {
	ID         string          `json:"id"`
	NodeID     string          `json:"nodeId"`
	URL        string          `json:"url,omitempty"`
	Queue      string          `json:"queue,omitempty"`
	Contact    message.Contact `json:"contact"`
	Transcript []Line          `json:"transcript,omitempty"`
}

// HandoffMessage forwards a message the contact sent during a hand-off to
// the hand-off's URL: the agent reads it there, and the session keeps it
// (message.* and Session.Recent) for when the flow resumes.
type HandoffMessage struct {
	ID      string          `json:"id"`
	NodeID  string          `json:"nodeId"`
	URL     string          `json:"url,omitempty"`
	Queue   string          `json:"queue,omitempty"`
	Contact message.Contact `json:"contact"`
	Message message.Inbound `json:"message"`
}

// LogEvent names an execution event.
type LogEvent string

// The execution events.
const (
	LogRunStarted      LogEvent = "run_started"
	LogRunEnded        LogEvent = "run_ended"
	LogNodeEntered     LogEvent = "node_entered"
	LogNodeLeft        LogEvent = "node_left"
	LogMessageSent     LogEvent = "message_sent"
	LogMessageFailed   LogEvent = "message_failed"
	LogMessageIgnored  LogEvent = "message_ignored" // an inbound message that does not advance the flow
	LogError           LogEvent = "error"
	LogRevisionChanged LogEvent = "revision_changed"
)

// Log is an execution event for the event log. The executor adds the flow,
// revision, run id, contact hash and latency.
type Log struct {
	Event    LogEvent          `json:"event"`
	NodeID   string            `json:"nodeId,omitempty"`
	NodeType v1alpha1.NodeType `json:"nodeType,omitempty"`
	// Branch is the way a node was left: next, a Condition branch name
	// (or branches[i]) or default, replied, timeout, error, jump, ...
	Branch  string `json:"branch,omitempty"`
	Message string `json:"message,omitempty"`
	// Budget names the limit that was hit (BudgetVariableSize,
	// BudgetSessionSize) when an error comes from one.
	Budget string `json:"budget,omitempty"`
	// Reason classes the failure of an error or message_failed event
	// (observe.go): set on every event that counts as an error of its node.
	Reason Reason `json:"reason,omitempty"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// String renders the effect on one line, every field included: for test
// transcripts, `chatflow test` and debugging.
func (e Effect) String() string {
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%v", v)
		}
		return string(b)
	}
	switch e.Kind {
	case EffectSend:
		return fmt.Sprintf("send %s @%s %s", e.Send.ID, e.Send.NodeID, js(e.Send.Message))
	case EffectHTTPCall:
		h := e.HTTP
		return fmt.Sprintf("http %s @%s %s %s timeout=%s headers=%s body=%q", h.ID, h.NodeID, h.Method, h.URL, h.Timeout, js(h.Headers), h.Body)
	case EffectSetTimer:
		return fmt.Sprintf("setTimer %s at=%s", e.Timer.ID, e.Timer.At.Format(time.RFC3339Nano))
	case EffectCancelTimer:
		return "cancelTimer " + e.Timer.ID
	case EffectHandoffNotify:
		h := e.Handoff
		return fmt.Sprintf("handoff %s @%s url=%q queue=%q contact=%s transcript=%s", h.ID, h.NodeID, h.URL, h.Queue, js(h.Contact), js(nonNil(h.Transcript)))
	case EffectHandoffMessage:
		h := e.HandoffMessage
		return fmt.Sprintf("handoffMessage %s @%s url=%q queue=%q contact=%s message=%s", h.ID, h.NodeID, h.URL, h.Queue, js(h.Contact), js(h.Message))
	case EffectModelCall:
		m := e.Model
		return fmt.Sprintf("model %s @%s:%s model=%s messages=%s schema=%s", m.ID, m.NodeID, m.NodeType, m.Model, js(nonNil(m.Messages)), js(m.Schema))
	case EffectLog:
		l := e.Log
		s := "log " + string(l.Event)
		if l.NodeID != "" || l.NodeType != "" {
			s += " @" + l.NodeID + ":" + string(l.NodeType)
		}
		if l.Branch != "" {
			s += " branch=" + l.Branch
		}
		if l.Budget != "" {
			s += " budget=" + l.Budget
		}
		if l.Message != "" {
			s += " " + strconv.Quote(l.Message)
		}
		return s
	}
	return js(e)
}
