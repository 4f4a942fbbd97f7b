package channel

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"
)

// DefaultWhatsAppRate is Cloud API's default throughput per business phone
// number: 80 messages per second ("up to 80 messages per second by
// default", automatically raised up to 1,000).
const DefaultWhatsAppRate = 80

// Limiter makes a send wait for its account's turn.
type Limiter interface {
	// Wait blocks until account may send one message, or ctx is done.
	Wait(ctx context.Context, account string) error
}

// RateLimiter is a token bucket per account (a WhatsApp phone_number_id, a
// Page id, a Viber bot), so sends of one account never exceed what the
// channel allows it while other accounts are unaffected. It is safe for
// concurrent use and meant to be shared by every sender of a process.
//
// Its limit is per process; SharedRateLimiter holds an account to its rate
// across the replicas of a flow.
type RateLimiter struct {
	clock Clock

	mu       sync.Mutex
	limit    rate.Limit
	burst    int
	accounts map[string]*rate.Limiter
}

// NewRateLimiter returns a limiter allowing perSecond sends per account
// with bursts of burst (burst <= 0 means one second's worth, at least 1).
// A nil clock is the SystemClock.
func NewRateLimiter(perSecond float64, burst int, clock Clock) *RateLimiter {
	return &RateLimiter{
		clock:    clockOr(clock),
		limit:    rate.Limit(perSecond),
		burst:    burstFor(perSecond, burst),
		accounts: map[string]*rate.Limiter{},
	}
}

func burstFor(perSecond float64, burst int) int {
	if burst > 0 {
		return burst
	}
	if b := int(perSecond); b > 1 {
		return b
	}
	return 1
}

// SetAccountLimit overrides the limit of one account, e.g. a number
// upgraded to 1,000 msg/s or a coexistence number fixed at 20.
func (l *RateLimiter) SetAccountLimit(account string, perSecond float64, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := burstFor(perSecond, burst)
	if lim, ok := l.accounts[account]; ok {
		now := l.clock.Now()
		lim.SetLimitAt(now, rate.Limit(perSecond))
		lim.SetBurstAt(now, b)
		return
	}
	l.accounts[account] = rate.NewLimiter(rate.Limit(perSecond), b)
}

func (l *RateLimiter) limiter(account string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.accounts[account]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.accounts[account] = lim
	}
	return lim
}

// Wait blocks until account may send one message, or ctx is done. It
// reserves against the injected clock (not rate.Limiter.Wait, which reads
// the wall clock) so tests can drive it with a fake one.
func (l *RateLimiter) Wait(ctx context.Context, account string) error {
	if l == nil {
		return nil
	}
	lim := l.limiter(account)
	now := l.clock.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("rate limit of account %q admits no send", account)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if err := l.clock.Sleep(ctx, d); err != nil {
		r.CancelAt(l.clock.Now())
		return err
	}
	return nil
}
