package channel

import "github.com/chatflow-dev/chatflow/runtime/message"

// Default send rates per account of the other channels (DefaultWhatsAppRate
// is WhatsApp's); the channel packages explain each.
const (
	DefaultMessengerRate = 300
	DefaultViberRate     = 100
)

// DefaultSendRate is a channel's default send rate per account, in
// messages per second (0 for an unknown channel): what an executor holds
// an account to when its binding sets no spec.sendRate, and what a
// campaign's rate may not exceed.
func DefaultSendRate(ch message.Channel) int {
	switch ch {
	case message.WhatsApp:
		return DefaultWhatsAppRate
	case message.Messenger, message.Instagram:
		return DefaultMessengerRate
	case message.Viber:
		return DefaultViberRate
	}
	return 0
}
