package channel

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of one send. Zero fields take the
// defaults below, so the zero value is a sensible policy.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included
	// (default 4). 1 disables retries.
	MaxAttempts int
	// BaseDelay is the backoff unit: attempt n waits a uniformly random
	// delay in [0, min(MaxDelay, BaseDelay·2^(n-1))) ("full jitter", which
	// spreads the retries of many senders hit by the same outage).
	// Default 500ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff delay (default 30s).
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After honoured in-line (default
	// 60s). A longer one ends the attempts at once: the Retryable
	// SendError carries RetryAfter so the executor can reschedule the send
	// durably instead of holding a worker.
	MaxRetryAfter time.Duration
}

// The RetryPolicy defaults.
const (
	DefaultMaxAttempts   = 4
	DefaultBaseDelay     = 500 * time.Millisecond
	DefaultMaxDelay      = 30 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// withDefaults fills the zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// Backoff is the full-jitter delay before retry number retry (1 for the
// first retry), given a uniform random number r in [0, 1).
func (p RetryPolicy) Backoff(retry int, r float64) time.Duration {
	p = p.withDefaults()
	ceiling := p.MaxDelay
	if retry < 1 {
		retry = 1
	}
	// BaseDelay·2^(retry-1), without overflowing.
	if shift := retry - 1; shift < 62 {
		if d := p.BaseDelay << shift; d > 0 && d < ceiling && d>>shift == p.BaseDelay {
			ceiling = d
		}
	}
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = 0.9999999
	}
	return time.Duration(r * float64(ceiling))
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date (RFC 9110 §10.2.3), relative to now. ok is false when the value
// is absent or unparseable; a date in the past yields 0 with ok true.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64((1<<63 - 1) / int64(time.Second))
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}
