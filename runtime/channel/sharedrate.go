package channel

import (
	"context"
	"sync"
	"time"
)

// TokenSource is an account's token bucket kept where every replica sees it
// (the Redis session store). Take grants up to n tokens of bucket, refilled
// at perSecond up to burst, at once; when it grants none, wait is how long
// until n are free.
type TokenSource interface {
	Take(ctx context.Context, bucket string, perSecond float64, burst, n int) (granted int, wait time.Duration, err error)
}

// SharedRateLimiter holds each account to its rate across all the replicas
// sending for it: the token bucket lives in a TokenSource, and each process
// takes tokens from it in small batches (a tenth of a second's worth), so a
// send rarely costs a round trip. Tokens a process holds are dropped after
// a second: a replica that sends less than a batch a second wastes at most
// that much of the account's rate, and one that went quiet cannot add more
// than a batch to a burst later. If the source fails (Redis unreachable),
// sends fall back to a per-process bucket of the same rate rather than
// stopping. It is safe for concurrent use.
type SharedRateLimiter struct {
	source    TokenSource
	prefix    string // the channel's name: buckets are "<prefix>:<account>"
	perSecond float64
	burst     int
	batch     int
	clock     Clock
	fallback  *RateLimiter

	mu       sync.Mutex
	accounts map[string]*sharedBucket
}

// heldTokensLife is how long a process keeps tokens it took and did not use.
const heldTokensLife = time.Second

// sharedBucket is what this process holds of one account's bucket. Its
// mutex is held while tokens are fetched, so concurrent sends of the
// account share one round trip.
type sharedBucket struct {
	mu      sync.Mutex
	tokens  int
	expires time.Time
}

// NewSharedRateLimiter returns a limiter of perSecond sends per account
// with bursts of burst (burst <= 0 means one second's worth, at least 1),
// whose buckets are named "<prefix>:<account>" in source. A nil clock is
// the SystemClock.
func NewSharedRateLimiter(source TokenSource, prefix string, perSecond float64, burst int, clock Clock) *SharedRateLimiter {
	burst = burstFor(perSecond, burst)
	return &SharedRateLimiter{
		source:    source,
		prefix:    prefix,
		perSecond: perSecond,
		burst:     burst,
		batch:     min(max(int(perSecond/10), 1), burst, 1000),
		clock:     clockOr(clock),
		fallback:  NewRateLimiter(perSecond, burst, clock),
		accounts:  map[string]*sharedBucket{},
	}
}

func (l *SharedRateLimiter) bucket(account string) *sharedBucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.accounts[account]
	if !ok {
		b = &sharedBucket{}
		l.accounts[account] = b
	}
	return b
}

// Wait blocks until account may send one message, or ctx is done.
func (l *SharedRateLimiter) Wait(ctx context.Context, account string) error {
	b := l.bucket(account)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.tokens > 0 && l.clock.Now().Before(b.expires) {
			b.tokens--
			return nil
		}
		granted, wait, err := l.source.Take(ctx, l.prefix+":"+account, l.perSecond, l.burst, l.batch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.tokens = 0
			return l.fallback.Wait(ctx, account)
		}
		if granted > 0 {
			b.tokens = granted - 1
			b.expires = l.clock.Now().Add(heldTokensLife)
			return nil
		}
		if err := l.clock.Sleep(ctx, max(wait, time.Millisecond)); err != nil {
			return err
		}
	}
}
