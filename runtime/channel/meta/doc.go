// Package meta is what Meta's three channels (WhatsApp Cloud API,
// Messenger, Instagram Messaging) share, written once: the GET verify
// handshake (hub.mode / hub.verify_token / hub.challenge), the
// X-Hub-Signature-256 check over the raw body, the webhook envelope walk
// (object, entry[].changes[] and entry[].messaging[]), the split of one
// app's batch into per-account parts for the gateway (SplitByAccount), the
// per-request dedupe of message ids, and the Graph API error body with the
// classification of Graph-wide error codes.
//
// It owns no channel's payload: WhatsApp's change values and Messenger's
// messaging events are decoded by their channel packages.
//
// Imports: the standard library, runtime/message and runtime/channel only.
// It must not import runtime/flow, runtime/store, runtime/executor or any
// channel package.
package meta
