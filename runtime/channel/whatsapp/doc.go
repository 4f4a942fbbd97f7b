// Package whatsapp is the WhatsApp Cloud API channel: it parses webhook
// bodies into a channel.Batch (Parse, Webhook), renders message.Outbound to
// the Cloud API's send body (Render) and sends it (Client, a
// channel.Sender), classifying Cloud API error codes as retryable or
// permanent (Classify).
//
// Signature checking, the verify handshake, the envelope walk and the
// Graph error body come from channel/meta; retries, backoff and the
// per-number rate limit from channel. Wire formats follow Meta's
// documentation and the fixtures in testdata/ (see testdata/README.md).
//
// Imports: the standard library, runtime/message, runtime/channel and
// runtime/channel/meta only. It must not import runtime/flow,
// runtime/store, runtime/executor or another channel package.
package whatsapp
