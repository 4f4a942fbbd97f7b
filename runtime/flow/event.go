package flow

import (
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// EventKind says what happened.
type EventKind string

// The event kinds.
const (
	EventInbound EventKind = "inbound" // the contact sent a message
	EventTimer   EventKind = "timer"   // a timer set by SetTimer fired
	EventRun     EventKind = "run"     // a Manual run was requested
	EventHTTP    EventKind = "http"    // an HTTPCall finished
	EventSend    EventKind = "send"    // a Send was accepted or refused by the channel
	EventStatus  EventKind = "status"  // a delivery status of a sent message arrived
	EventResume  EventKind = "resume"  // an agent ended a hand-off
	EventModel   EventKind = "model"   // a ModelCall finished
)

// Event is one input of Step: one struct with a Kind rather than an
// interface, so that building and passing one does not allocate, and so
// that the executor can queue events as JSON as they are. Only the member
// of the Kind is read.
type Event struct {
	Kind EventKind `json:"kind"`
	// Inbound of EventInbound.
	Inbound message.Inbound `json:"inbound,omitzero"`
	// Timer of EventTimer.
	Timer TimerFired `json:"timer,omitzero"`
	// Run of EventRun.
	Run RunStarted `json:"run,omitzero"`
	// HTTP of EventHTTP.
	HTTP HTTPResult `json:"http,omitzero"`
	// Send of EventSend.
	Send SendResult `json:"send,omitzero"`
	// Status of EventStatus.
	Status message.Status `json:"status,omitzero"`
	// Model of EventModel.
	Model ModelResult `json:"model,omitzero"`
}

// TimerFired says a timer set by a SetTimer effect is due.
type TimerFired struct {
	TimerID string `json:"timerId"`
}

// RunStarted starts a run of a Manual flow (the run API). Inputs that the
// flow does not declare are dropped; a missing required input rejects the
// run with an error log and no other effect.
type RunStarted struct {
	RunID   string          `json:"runId,omitempty"`
	Contact message.Contact `json:"contact"`
	Inputs  map[string]any  `json:"inputs,omitempty"`
	// Campaign names the campaign that asks for the run (Session.Campaign).
	Campaign string `json:"campaign,omitempty"`
}

// HTTPResult is the outcome of an HTTPCall effect.
type HTTPResult struct {
	EffectID    string            `json:"effectId"`
	Status      int               `json:"status,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Body        []byte            `json:"body,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	// Err is set when there is no response: timeout, refused address,
	// connection error, response too large.
	Err string `json:"err,omitempty"`
	// Reason classes Err: ReasonTimeout, else ReasonHTTPError (the
	// default when empty).
	Reason Reason `json:"reason,omitempty"`
}

// SendResult is the outcome of a Send effect, after the executor's retries.
type SendResult struct {
	EffectID  string             `json:"effectId"`
	MessageID string             `json:"messageId,omitempty"`
	Error     *message.SendError `json:"error,omitempty"`
}

// ModelResult is the outcome of a ModelCall effect, after the performer's
// retries.
type ModelResult struct {
	EffectID string `json:"effectId"`
	// Content is the answer's text: for structured output, JSON text the
	// flow validates against the call's schema.
	Content string `json:"content,omitempty"`
	// Refusal is set when the model declined to answer (OpenAI's
	// message.refusal).
	Refusal string `json:"refusal,omitempty"`
	// Err is set when there is no answer: timeout, an error status after
	// the retries, a network error, a refused address, an unreadable
	// response. It never holds the prompt or the key.
	Err string `json:"err,omitempty"`
}

// Resume ends a hand-off: automation continues on the Handoff node's next.
type Resume struct{}

// Inbound makes the event of an inbound message.
func Inbound(m message.Inbound) Event { return Event{Kind: EventInbound, Inbound: m} }

// StatusUpdate makes the event of a delivery status.
func StatusUpdate(st message.Status) Event { return Event{Kind: EventStatus, Status: st} }

// Event makes the event.
func (t TimerFired) Event() Event { return Event{Kind: EventTimer, Timer: t} }

// Event makes the event.
func (r RunStarted) Event() Event { return Event{Kind: EventRun, Run: r} }

// Event makes the event.
func (r HTTPResult) Event() Event { return Event{Kind: EventHTTP, HTTP: r} }

// Event makes the event.
func (r SendResult) Event() Event { return Event{Kind: EventSend, Send: r} }

// Event makes the event.
func (Resume) Event() Event { return Event{Kind: EventResume} }

// Event makes the event.
func (r ModelResult) Event() Event { return Event{Kind: EventModel, Model: r} }
