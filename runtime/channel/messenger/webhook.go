package messenger

import (
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// Webhook is the inbound side of one Messenger or Instagram binding for
// the executor: a channel.Receiver and channel.Handshaker. Authentication
// (X-Hub-Signature-256) and the verify handshake come from meta.Verifier,
// as for WhatsApp; Parse routes on AccountID.
type Webhook struct {
	meta.Verifier
	// Flavor is Messenger or Instagram.
	Flavor Flavor
	// AccountID is the binding's Page id or Instagram account id; entries
	// addressed to another id are ignored.
	AccountID string
}

var (
	_ channel.Receiver   = (*Webhook)(nil)
	_ channel.Handshaker = (*Webhook)(nil)
)

// Parse implements channel.Receiver with Parse(body, w.Flavor, w.AccountID).
func (w *Webhook) Parse(body []byte) (channel.Batch, error) {
	return Parse(body, w.Flavor, w.AccountID)
}
