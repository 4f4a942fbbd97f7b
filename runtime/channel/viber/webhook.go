package viber

import (
	"net/http"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Webhook is the inbound side of one Viber bot for the executor: a
// channel.Receiver (X-Viber-Content-Signature over the raw body, keyed by
// the auth token) and a channel.Greeter (the welcome message). Viber has
// no GET handshake: set_webhook's check is a signed "webhook" callback,
// which Parse ignores and the route answers 200. The bot is AccountID,
// taken from the URL path by the executor, since payloads do not name it.
type Webhook struct {
	// AuthToken returns the bot's current auth token.
	AuthToken func() string
	// AccountID is the binding's bot id, served on /webhooks/viber/{AccountID}.
	AccountID string
	// Sender names the bot in the welcome message.
	Sender Sender
}

var (
	_ channel.Receiver      = (*Webhook)(nil)
	_ channel.Greeter       = (*Webhook)(nil)
	_ channel.AccountRouter = (*Webhook)(nil)
)

// Authenticate implements channel.Receiver.
func (w *Webhook) Authenticate(h http.Header, body []byte) error {
	tok := ""
	if w.AuthToken != nil {
		tok = w.AuthToken()
	}
	return VerifySignature(h.Get(SignatureHeader), body, tok)
}

// Parse implements channel.Receiver with Parse.
func (w *Webhook) Parse(body []byte) (channel.Batch, error) { return Parse(body) }

// ServesAccount implements channel.AccountRouter: the path names the bot.
func (w *Webhook) ServesAccount(account string) bool { return account == w.AccountID }

// Greeting implements channel.Greeter with RenderWelcome.
func (w *Webhook) Greeting(out message.Outbound) ([]byte, error) { return RenderWelcome(out, w.Sender) }
