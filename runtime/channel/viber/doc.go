// Package viber is the Viber REST Bot API channel: it verifies and parses
// callbacks into a channel.Batch (Webhook, Parse, VerifySignature), renders
// message.Outbound to send_message bodies (Render, and RenderWelcome for
// the welcome message answered to conversation_started), sends them
// (Client, a channel.Sender), registers the webhook (Client.SetWebhook)
// and classifies Viber's status codes (Classify).
//
// Viber differs from Meta's channels in three ways the executor sees:
// callbacks carry no bot identity (the executor serves each bot on
// /webhooks/viber/{account id}); errors come back as HTTP 200 with a
// non-zero "status"; and message_token and timestamps exceed 2^53, so they
// are decoded as json.Number and read with strconv, never through float64.
//
// Imports: the standard library, runtime/message, runtime/channel and
// runtime/channel/capability only. It must not import runtime/flow,
// runtime/store, runtime/executor or another channel package.
package viber
