package channel

import (
	"context"
	"net/http"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Receiver is the inbound half of a channel, what the executor's
// POST /webhooks/{channel} route needs: the route reads the body once with
// ReadBody, calls Authenticate over those raw bytes (nothing is processed
// when it fails), then Parse over the same bytes. Errors map to HTTP
// statuses through HTTPStatus.
type Receiver interface {
	// Authenticate checks the request's signature over the raw body in
	// constant time. Its errors wrap ErrUnauthenticated.
	Authenticate(header http.Header, body []byte) error
	// Parse turns the raw body into a Batch. Its errors wrap ErrMalformed;
	// signed events that are merely useless end up in Batch.Ignored.
	Parse(body []byte) (Batch, error)
}

// Handshaker answers a channel's GET verification request (Meta's
// hub.challenge handshake). Channels without one (Viber) do not implement it.
type Handshaker interface {
	// Handshake writes the whole response: the challenge on success, 400 or
	// 403 otherwise.
	Handshake(w http.ResponseWriter, r *http.Request)
}

// Sender is the outbound half of a channel: it renders a channel-neutral
// message to the channel's wire format and delivers it, retrying transient
// failures within the limits of its RetryPolicy. It never returns a Go
// error: the Receipt carries the message id or a classified SendError, so
// the executor decides between a later retry (Retryable) and the node's
// onError branch (Permanent).
type Sender interface {
	Send(ctx context.Context, out message.Outbound) message.Receipt
}

// Greeter is implemented by receivers of channels that can answer a webhook
// with a message in the response body: Viber takes the reply to
// conversation_started as the welcome message, the one message allowed
// before the contact subscribes.
type Greeter interface {
	// Greeting renders out (its To is ignored: the contact is the one who
	// opened the conversation) as the webhook response body, JSON.
	Greeting(out message.Outbound) ([]byte, error)
}

// Typist is implemented by senders of channels that can show a contact
// that an answer is being prepared. The executor calls it while a flow
// waits for a language model, once per inbound message.
type Typist interface {
	// Typing marks the inbound message read and shows the contact the
	// typing indicator until the next message (WhatsApp: one Cloud API
	// call; the indicator goes after 25 s at most). It is not retried:
	// a late indicator is worse than none.
	Typing(ctx context.Context, inboundID string) error
}

// AccountRouter is implemented by receivers of channels whose webhook path
// names the account (Viber: /webhooks/viber/{account}, one callback URL per
// bot). The executor answers 404 to a request for another account before
// reading its body; receivers of channels that name the account in the
// payload (Meta) do not implement it.
type AccountRouter interface {
	// ServesAccount reports whether account, the {account} of the webhook
	// path, is the receiver's.
	ServesAccount(account string) bool
}
