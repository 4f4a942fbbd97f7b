package channel

import (
	"context"
	"time"
)

// Clock is the time source of the delivery machinery. Production uses
// SystemClock; tests inject a fake whose Sleep advances Now instantly, so
// backoff, Retry-After and rate-limit behaviour is asserted without real
// waiting or wall-clock thresholds.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d with a timer, or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clockOr returns c, or SystemClock when c is nil.
func clockOr(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}
