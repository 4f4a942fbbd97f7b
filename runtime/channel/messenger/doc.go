// Package messenger is the Messenger Platform channel, in its two flavours:
// Facebook Messenger (object "page", Page-scoped ids) and Instagram
// Messaging (object "instagram", Instagram-scoped ids), which share the
// webhook shape (entry[].messaging[]) and the Send API. A Flavor selects
// the channel; everything else is written once.
//
// It parses webhook bodies into a channel.Batch (Parse, Webhook), renders
// message.Outbound to Send API bodies (Render) and sends them (Client, a
// channel.Sender), classifying Graph error codes as retryable or permanent
// (Classify). Limits come from runtime/channel/capability, the table the
// flow compiler checks flows against, so the two cannot disagree.
//
// Signature checking, the verify handshake, the envelope walk, the
// per-request dedupe and the Graph error body come from channel/meta;
// retries, backoff and the rate limit from channel. Wire formats follow
// Meta's documentation and the fixtures in testdata/ (see
// testdata/README.md).
//
// Imports: the standard library, runtime/message, runtime/channel,
// runtime/channel/meta and runtime/channel/capability only. It must not
// import runtime/flow, runtime/store, runtime/executor or another channel
// package.
package messenger
