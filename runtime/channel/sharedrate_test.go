package channel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
)

// gcraSource is a TokenSource kept in the test's memory on a fake clock,
// with the arithmetic of the Redis script: what a replica would share.
type gcraSource struct {
	clock *fakeclock.FakeClock
	tat   map[string]time.Time
	calls []int // n asked per call
	err   error
}

func (s *gcraSource) Take(_ context.Context, bucket string, perSecond float64, burst, n int) (int, time.Duration, error) {
	s.calls = append(s.calls, n)
	if s.err != nil {
		return 0, 0, s.err
	}
	interval := time.Duration(float64(time.Second) / perSecond)
	now := s.clock.Now()
	tat := s.tat[bucket]
	if tat.Before(now) {
		tat = now
	}
	tolerance := time.Duration(burst) * interval
	granted := min(n, int(now.Add(tolerance).Sub(tat)/interval))
	if granted < 1 {
		return 0, tat.Add(time.Duration(n) * interval).Add(-tolerance).Sub(now), nil
	}
	s.tat[bucket] = tat.Add(time.Duration(granted) * interval)
	return granted, 0, nil
}

func newGCRA(clock *fakeclock.FakeClock) *gcraSource {
	return &gcraSource{clock: clock, tat: map[string]time.Time{}}
}

// TestSharedRateLimiterHoldsTheRateAcrossReplicas: two processes sending
// for one account through one source share its 80/s: 240 sends need 2 s
// after the first second's burst, as one process alone would; each asks
// for tokens a tenth of a second's worth at a time.
func TestSharedRateLimiterHoldsTheRateAcrossReplicas(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	src := newGCRA(clock)
	a := channel.NewSharedRateLimiter(src, "WhatsApp", channel.DefaultWhatsAppRate, 0, clock)
	b := channel.NewSharedRateLimiter(src, "WhatsApp", channel.DefaultWhatsAppRate, 0, clock)
	ctx := context.Background()
	for i := range 240 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if err := l.Wait(ctx, "106540352242922"); err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.Now().Sub(epoch); got < 1900*time.Millisecond || got > 2100*time.Millisecond {
		t.Fatalf("240 sends of two replicas at a shared 80/s took %v of clock time, want 2s", got)
	}
	for _, n := range src.calls {
		if n != 8 {
			t.Fatalf("asked for %d tokens at once, want 8 (a tenth of a second's worth)", n)
		}
	}
	if len(src.calls) > 2*240/8 {
		t.Errorf("%d round trips for 240 sends: batches are not used", len(src.calls))
	}
	// Another account has its own bucket.
	start := clock.Now()
	if err := a.Wait(ctx, "other"); err != nil || clock.Now() != start {
		t.Errorf("another account waited %v (%v)", clock.Now().Sub(start), err)
	}
}

// TestSharedRateLimiterDropsHeldTokens: tokens a process took and did not
// use within a second are dropped, not spent in a burst later.
func TestSharedRateLimiterDropsHeldTokens(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	src := newGCRA(clock)
	l := channel.NewSharedRateLimiter(src, "WhatsApp", 80, 0, clock)
	ctx := context.Background()
	if err := l.Wait(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, "a"); err != nil || len(src.calls) != 1 {
		t.Fatalf("the second send took tokens again (%d calls, %v)", len(src.calls), err)
	}
	clock.Advance(time.Second)
	if err := l.Wait(ctx, "a"); err != nil || len(src.calls) != 2 {
		t.Fatalf("after a second the held tokens were still used (%d calls, %v)", len(src.calls), err)
	}
}

// TestSharedRateLimiterFallsBackWhenTheSourceFails: with the shared bucket
// unreachable, sends are still limited, by a bucket of this process.
func TestSharedRateLimiterFallsBackWhenTheSourceFails(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	src := newGCRA(clock)
	src.err = errors.New("redis down")
	l := channel.NewSharedRateLimiter(src, "Viber", 1, 1, clock)
	ctx := context.Background()
	for range 3 {
		if err := l.Wait(ctx, "bot"); err != nil {
			t.Fatalf("a failing source stopped the send: %v", err)
		}
	}
	if got := clock.Slept(); got != 2*time.Second {
		t.Fatalf("three sends at 1/s without the shared bucket waited %v, want 2s", got)
	}
}

// TestSharedRateLimiterHonoursContext: a send waiting for a token gives up
// when its context ends.
func TestSharedRateLimiterHonoursContext(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	l := channel.NewSharedRateLimiter(newGCRA(clock), "WhatsApp", 1, 1, clock)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Wait(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.Wait(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v, want context.Canceled", err)
	}
}
