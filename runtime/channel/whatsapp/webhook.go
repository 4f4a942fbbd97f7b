package whatsapp

import (
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// Webhook is the inbound side of one WhatsApp binding for the executor: a
// channel.Receiver and channel.Handshaker. Authentication and the
// handshake come from meta.Verifier; Parse routes on AccountID.
type Webhook struct {
	meta.Verifier
	// AccountID is the binding's phone_number_id; changes addressed to
	// another number are ignored.
	AccountID string
}

var (
	_ channel.Receiver   = (*Webhook)(nil)
	_ channel.Handshaker = (*Webhook)(nil)
)

// Parse implements channel.Receiver with Parse(body, w.AccountID).
func (w *Webhook) Parse(body []byte) (channel.Batch, error) {
	return Parse(body, w.AccountID)
}
