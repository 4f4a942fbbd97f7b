package channel

import (
	"time"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Batch is everything one signed webhook request carried, in the
// channel-neutral model. The executor durably accepts Messages and Statuses
// before acknowledging the webhook; Ignored exists only for debug logs, so an
// operator can see why a signed event produced no work.
type Batch struct {
	// Messages are the contacts' messages, in payload order, without
	// duplicates inside the request.
	Messages []message.Inbound `json:"messages,omitempty"`
	// Statuses are delivery updates of messages the flow sent.
	Statuses []message.Status `json:"statuses,omitempty"`
	// Opened are contacts who opened the conversation without writing yet
	// (Viber's conversation_started). Nothing is queued for them: a channel
	// whose receiver is a Greeter may answer the webhook with a welcome
	// message instead.
	Opened []ContactEvent `json:"opened,omitempty"`
	// Unsubscribed are contacts who left the conversation (Viber's
	// unsubscribed): the channel forbids messaging them, so the executor
	// ends their session.
	Unsubscribed []ContactEvent `json:"unsubscribed,omitempty"`
	// Ignored lists signed events of no use to a flow, with the reason.
	Ignored []Ignored `json:"ignored,omitempty"`
}

// ContactEvent is a conversation-level event of one contact that is neither
// a message nor a delivery status.
type ContactEvent struct {
	// ID is the channel's event id (a Viber message_token), the dedupe key.
	ID string `json:"id"`
	// Contact the event is about.
	Contact message.Contact `json:"contact"`
	// Timestamp the channel gives for the event.
	Timestamp time.Time `json:"timestamp"`
}

// Ignored is a signed event the channel skipped, kept so a debug log can
// say what arrived and why nothing happened (a webhook field the flow does
// not use, an event for another account, a duplicate, an out-of-band error).
type Ignored struct {
	// What names the event, e.g. "change field=account_update",
	// "message type=reaction" or "error 131000".
	What string `json:"what"`
	// ID is the event's id when it has one (a message id, a status id).
	ID string `json:"id,omitempty"`
	// Reason says why it was skipped.
	Reason string `json:"reason"`
}

// Empty reports whether the batch holds no work and nothing ignored.
func (b *Batch) Empty() bool {
	return len(b.Messages) == 0 && len(b.Statuses) == 0 && len(b.Opened) == 0 &&
		len(b.Unsubscribed) == 0 && len(b.Ignored) == 0
}

// Ignore appends an Ignored entry; channel parsers use it to keep their
// code short.
func (b *Batch) Ignore(what, id, reason string) {
	b.Ignored = append(b.Ignored, Ignored{What: what, ID: id, Reason: reason})
}
