package channel

import (
	"strings"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// WebhookPath is the path on the executor where a channel delivers its
// events; the operator publishes it in ChannelBinding status.webhookPath and
// the chat tool posts to it. Viber payloads do not name the bot, so its path
// carries the account id. It is "" for a channel without webhooks (Manual).
func WebhookPath(ch message.Channel, accountID string) string {
	switch ch {
	case message.Viber:
		return "/webhooks/viber/" + accountID
	case message.WhatsApp, message.Messenger, message.Instagram:
		return "/webhooks/" + strings.ToLower(string(ch))
	}
	return ""
}
