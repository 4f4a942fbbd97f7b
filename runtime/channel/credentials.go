package channel

// The keys of a binding's credentials Secret: what the operator requires
// of the Secret, and what the executor and the chat tool read from it.
const (
	// KeyAccessToken is the Meta Graph API token (WhatsApp, Messenger, Instagram).
	KeyAccessToken = "accessToken"
	// KeyAppSecret signs Meta webhooks.
	KeyAppSecret = "appSecret"
	// KeyVerifyToken answers Meta's verify handshake.
	KeyVerifyToken = "verifyToken"
	// KeyAuthToken is the Viber bot token: it signs webhooks and sends.
	KeyAuthToken = "authToken"
	// KeyRunToken authorizes Manual runs and resuming hand-offs; it is
	// optional for every channel.
	KeyRunToken = "runToken"
	// KeyHandoffSecret signs hand-off notifications (without it, runToken
	// does); optional.
	KeyHandoffSecret = "handoffSecret"
)
