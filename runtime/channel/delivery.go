package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// DefaultMaxResponseBytes caps how much of a send API response Delivery
// reads; send responses are a few hundred bytes.
const DefaultMaxResponseBytes int64 = 1 << 20

// Decoder interprets one HTTP response of a send API for Delivery: the
// channel's message id on success, or a SendError. A SendError left without
// a Class is classified by HTTP status (ClassifyHTTPStatus); one left
// without RetryAfter gets the response's Retry-After header. Channels that
// key on their own error codes (WhatsApp, Messenger) set Class themselves.
// Errors must not contain credentials.
type Decoder func(status int, header http.Header, body []byte) (messageID string, err *message.SendError)

// RequestFunc builds the HTTP request of one attempt. It is called again
// for every attempt, so the body is fresh and a rotated access token is
// picked up between attempts.
type RequestFunc func(ctx context.Context) (*http.Request, error)

// Delivery is the shared HTTP delivery machinery of the channels' Senders:
// one send is attempted under the account's rate limit and retried, within
// Retry, on network errors and on Retryable SendErrors (by default 429 and
// 5xx), after a full-jitter backoff or the delay the channel asked for
// (Retry-After, seconds or HTTP date). Its zero value is usable (default
// http.Client, policy and clock, no rate limit). It is safe for concurrent
// use if its fields are not changed.
type Delivery struct {
	// Client sends the requests (http.DefaultClient when nil). Give it a
	// Timeout: a hung connection otherwise holds the send.
	Client *http.Client
	// Retry bounds the retries.
	Retry RetryPolicy
	// Limiter, when set, is waited on before every attempt with the
	// account passed to Do: a RateLimiter (per process) or a
	// SharedRateLimiter (per account across replicas).
	Limiter Limiter
	// Clock drives backoff sleeps (SystemClock when nil).
	Clock Clock
	// Rand returns uniform numbers in [0, 1) for the jitter
	// (math/rand/v2 when nil).
	Rand func() float64
	// MaxResponseBytes caps how much of a response is read
	// (DefaultMaxResponseBytes when <= 0).
	MaxResponseBytes int64
	// OnRetry, when set, is told about each failed attempt that will be
	// retried and the delay before the next one (for logs and metrics).
	OnRetry func(attempt int, err *message.SendError, delay time.Duration)
}

// Do performs one send for account: it builds, rate-limits, sends and
// decodes attempts until one succeeds, a Permanent error occurs, the
// attempts are exhausted, a Retry-After exceeds Retry.MaxRetryAfter or ctx
// is done. The Receipt of a send that still failed carries the last
// SendError, Retryable ones included, so the executor can reschedule it.
func (d *Delivery) Do(ctx context.Context, account string, newRequest RequestFunc, decode Decoder) message.Receipt {
	p := d.Retry.withDefaults()
	clock := clockOr(d.Clock)
	var last *message.SendError
	for attempt := 1; ; attempt++ {
		if d.Limiter != nil {
			if err := d.Limiter.Wait(ctx, account); err != nil {
				return message.Receipt{Error: abortError(last, err)}
			}
		}
		id, serr := d.attempt(ctx, clock, newRequest, decode)
		if serr == nil {
			return message.Receipt{MessageID: id}
		}
		last = serr
		if serr.Class != message.Retryable || attempt >= p.MaxAttempts || ctx.Err() != nil {
			return message.Receipt{Error: serr}
		}
		if serr.RetryAfter > p.MaxRetryAfter {
			return message.Receipt{Error: serr}
		}
		delay := p.Backoff(attempt, d.random())
		if serr.RetryAfter > delay {
			delay = serr.RetryAfter
		}
		if d.OnRetry != nil {
			d.OnRetry(attempt, serr, delay)
		}
		if err := clock.Sleep(ctx, delay); err != nil {
			return message.Receipt{Error: serr}
		}
	}
}

func (d *Delivery) random() float64 {
	if d.Rand != nil {
		return d.Rand()
	}
	return rand.Float64()
}

// abortError is the error of a send stopped before an attempt (ctx done
// while waiting for the rate limiter): the last real error if any, else a
// Retryable local one, since the message was not sent.
func abortError(last *message.SendError, err error) *message.SendError {
	if last != nil {
		return last
	}
	return &message.SendError{Class: message.Retryable, Code: CodeLocal, Message: "send not attempted: " + err.Error()}
}

// attempt performs one HTTP exchange.
func (d *Delivery) attempt(ctx context.Context, clock Clock, newRequest RequestFunc, decode Decoder) (string, *message.SendError) {
	req, err := newRequest(ctx)
	if err != nil {
		return "", &message.SendError{Class: message.Permanent, Code: CodeLocal, Message: err.Error()}
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", &message.SendError{Class: message.Retryable, Code: CodeNetwork, Message: redactedError(req, err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	limit := d.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return "", &message.SendError{Class: message.Retryable, Code: CodeNetwork,
			Message: fmt.Sprintf("reading the response (HTTP %d): %s", resp.StatusCode, redactedError(req, err))}
	}
	id, serr := decode(resp.StatusCode, resp.Header, body)
	if serr == nil {
		return id, nil
	}
	if serr.Class == "" {
		serr.Class = ClassifyHTTPStatus(resp.StatusCode)
	}
	if serr.RetryAfter <= 0 {
		if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), clock.Now()); ok {
			serr.RetryAfter = ra
		}
	}
	return "", serr
}

// ClassifyHTTPStatus is the class of a failed response when the channel
// says nothing more: 408, 429 and 5xx are Retryable, the rest Permanent.
func ClassifyHTTPStatus(status int) message.ErrorClass {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return message.Retryable
	default:
		return message.Permanent
	}
}

// redactedError describes a transport error without the request's query
// string, where Messenger-style APIs carry the access token, and without
// userinfo.
func redactedError(req *http.Request, err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	where := req.Method
	if req.URL != nil {
		where += " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath()
	}
	return where + ": " + err.Error()
}
