package flow

import (
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// SessionVersion is the version of the Session encoding. It changes when a
// stored session could no longer be read the same way.
const SessionVersion = 1

// Status is where a session stands between events.
type Status string

// The statuses. Active is only seen inside Step: a session handed back is
// always waiting for something, or Ended.
const (
	StatusActive       Status = "Active"
	StatusWaitingReply Status = "WaitingReply" // a WaitForReply: an inbound message or its timer
	StatusWaitingSend  Status = "WaitingSend"  // a SendMessage with onError: its SendResult
	StatusWaitingHTTP  Status = "WaitingHTTP"  // an HTTPRequest: its HTTPResult
	StatusWaitingModel Status = "WaitingModel" // an AI node: its ModelResult
	StatusDelayed      Status = "Delayed"      // a Delay: its timer
	StatusHandedOff    Status = "HandedOff"    // a Handoff: Resume or its timer
	StatusEnded        Status = "Ended"        // the run is over; an inbound message starts a new one
)

// Session is the state of one contact's conversation with a flow. The
// executor stores it between events (as JSON: it round-trips exactly) and
// hands it to Step with each event.
type Session struct {
	// Version of the encoding, SessionVersion.
	Version int `json:"version"`
	// RunID identifies the current run; effect and timer ids derive from it.
	RunID string `json:"runId,omitempty"`
	// Contact the flow talks to.
	Contact message.Contact `json:"contact"`
	// Revision of the program the session last ran.
	Revision string `json:"revision,omitempty"`
	// Node is the id of the current node, NodeType its type (to tell, after
	// a revision change, whether the node is still the same kind of step).
	Node     string            `json:"node,omitempty"`
	NodeType v1alpha1.NodeType `json:"nodeType,omitempty"`
	// Status says what the session waits for.
	Status Status `json:"status"`
	// Vars are the flow variables (vars.<name>).
	Vars Values `json:"vars,omitempty"`
	// Inputs are the inputs of a Manual run (trigger.<name>).
	Inputs Values `json:"inputs,omitempty"`
	// Message is the last inbound message (message.*); zero when none.
	Message message.Inbound `json:"message,omitzero"`
	// Jumps counts the jumps taken per Jump node id in this run.
	Jumps map[string]int `json:"jumps,omitempty"`
	// Wait is what the session waits for; events that do not match it are stale.
	Wait Wait `json:"wait,omitzero"`
	// Seq is the counter effect and timer ids derive from. It never goes
	// back, not even across runs, so ids stay unique per contact.
	Seq uint64 `json:"seq"`
	// Sent are the most recent sends (at most MaxSent), to tie delivery
	// receipts and asynchronous failures back to their node.
	Sent []Sent `json:"sent,omitempty"`
	// Recent is the recent conversation, oldest first, at most MaxRecent
	// lines across runs: what a hand-off shows the agent, and the history
	// AI nodes send their model. Only sessions of flows with a Handoff or
	// an AI node keep it.
	Recent []Line `json:"recent,omitempty"`
	// Flow is the called flow the run is in (a ForwardToFlow node handed
	// the contact to it); empty in the flow the executor serves. Revision,
	// Node, Vars, Inputs and Jumps are that flow's.
	Flow string `json:"flow,omitempty"`
	// Stack holds the callers a called flow returns to, innermost last, at
	// most MaxCallDepth.
	Stack []Frame `json:"stack,omitempty"`
	// Campaign names the campaign that started the run, if one did
	// (RunStarted.Campaign); the executor counts the run's outcome for it.
	Campaign string `json:"campaign,omitempty"`

	// Scratch reused from one Step to the next, so that a turn on a
	// session the caller keeps in memory allocates little. Not stored.
	effects   []Effect
	scope     expr.Scope
	media     expr.Media
	cacheProg *Program
	cacheIdx  int
}

// Wait is the pending wait of a session.
type Wait struct {
	// TimerID of the timer set by a WaitForReply, Delay or Handoff.
	TimerID string `json:"timerId,omitempty"`
	// EffectID of the Send, HTTPCall or ModelCall whose result the session
	// waits for.
	EffectID string `json:"effectId,omitempty"`
	// URL of a hand-off: its rendered notifyURL, where what the contact
	// writes meanwhile is forwarded.
	URL string `json:"url,omitempty"`
	// Deadline of the timer.
	Deadline time.Time `json:"deadline,omitzero"`
}

// MaxSent bounds Session.Sent.
const MaxSent = 16

// MaxRecent bounds Session.Recent, and MaxLineText the bytes of a line's
// text: the recent conversation stays a small part of a session.
const (
	MaxRecent   = 12
	MaxLineText = 1024
)

// Line is one message of the recent conversation.
type Line struct {
	// From is "contact" or "flow".
	From string `json:"from"`
	// NodeID is the SendMessage that sent a message of the flow.
	NodeID string `json:"nodeId,omitempty"`
	// Text is the message's text, or a short description of what it
	// carries ("[image] https://...", "[button] yes", "[template name]"),
	// cut to MaxLineText bytes.
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// The senders of a Line.
const (
	FromContact = "contact"
	FromFlow    = "flow"
)

// Sent ties a send to its node.
type Sent struct {
	EffectID  string `json:"effectId"`
	MessageID string `json:"messageId,omitempty"`
	NodeID    string `json:"nodeId"`
	// Flow is the called flow of the node (Session.Flow when it was sent).
	Flow string `json:"flow,omitempty"`
	// Live sends were made since the contact last answered: an
	// asynchronous failure of one with onError still redirects the session
	// to that onError. Older failures are only logged.
	Live bool `json:"live,omitempty"`
}

// Frame is a caller waiting on a called flow: where it continues (the
// ForwardToFlow node, whose next it takes) and its state at the call.
type Frame struct {
	// Flow is the caller, empty for the flow the executor serves.
	Flow     string            `json:"flow,omitempty"`
	Revision string            `json:"revision"`
	Node     string            `json:"node"`
	NodeType v1alpha1.NodeType `json:"nodeType"`
	Vars     Values            `json:"vars,omitempty"`
	Inputs   Values            `json:"inputs,omitempty"`
	Jumps    map[string]int    `json:"jumps,omitempty"`
}

// Waiting reports whether the session waits for an event (it is not Ended).
func (s *Session) Waiting() bool { return s != nil && s.Status != StatusEnded && s.Status != "" }
