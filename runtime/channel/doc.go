// Package channel holds what every messaging channel (WhatsApp, Messenger,
// Instagram, Viber) shares: the interfaces the executor drives (Receiver,
// Handshaker, Sender), the Batch a webhook parses into, the sentinel errors
// the webhook server maps to HTTP statuses, and the delivery machinery of
// outbound sends (Delivery: bounded retries with full-jitter backoff that
// honour Retry-After; RateLimiter: a per-account token bucket of a process;
// SharedRateLimiter: one an account's replicas share through a TokenSource
// such as the Redis store; ReadBody: a size-capped body reader), and the
// HMAC-SHA256 webhook signature digest Meta and Viber both use. Time is injected through Clock so retry and rate
// tests never sleep for real.
//
// It owns nothing channel-specific: wire formats live in the channel
// packages (channel/whatsapp, channel/messenger for Messenger and Instagram,
// channel/viber), and what Meta's
// channels share lives in channel/meta.
//
// Imports: the standard library, golang.org/x/time/rate and runtime/message
// only. It must not import runtime/flow, runtime/store, runtime/executor or
// any channel package (they import it).
package channel
