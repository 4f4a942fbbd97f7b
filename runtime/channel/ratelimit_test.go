package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRateLimiterDefaultWhatsAppRate(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	l := channel.NewRateLimiter(channel.DefaultWhatsAppRate, 0, clock)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		if err := l.Wait(ctx, "106540352242922"); err != nil {
			t.Fatal(err)
		}
	}
	// A burst of 80, then 120 more at 80/s: 1.5 s of waiting, no more.
	if got := clock.Now().Sub(epoch); got < 1490*time.Millisecond || got > 1510*time.Millisecond {
		t.Fatalf("200 sends at 80/s took %v of clock time, want 1.5s", got)
	}
	// In any one-second window at most burst+rate sends were admitted:
	// equivalently, 200 sends never finish before (200-80)/80 s.
	if n := len(clock.Sleeps()); n != 120 {
		t.Fatalf("%d sends had to wait, want 120", n)
	}
}

func TestRateLimiterPerAccount(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	l := channel.NewRateLimiter(1, 1, clock)
	ctx := context.Background()
	for _, acct := range []string{"a", "b", "c"} {
		if err := l.Wait(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	if s := clock.Slept(); s != 0 {
		t.Fatalf("first send of three accounts waited %v, want 0", s)
	}
	if err := l.Wait(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if s := clock.Slept(); s != time.Second {
		t.Fatalf("second send of one account at 1/s waited %v, want 1s", s)
	}
}

func TestRateLimiterSetAccountLimit(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	l := channel.NewRateLimiter(80, 0, clock)
	l.SetAccountLimit("coexistence", 20, 1)
	ctx := context.Background()
	for i := 0; i < 11; i++ {
		_ = l.Wait(ctx, "coexistence")
	}
	if got := clock.Slept(); got != 500*time.Millisecond {
		t.Fatalf("11 sends at 20/s burst 1 waited %v, want 500ms", got)
	}
}

func TestRateLimiterCanceled(t *testing.T) {
	clock := fakeclock.NewFakeClock(epoch)
	l := channel.NewRateLimiter(1, 1, clock)
	_ = l.Wait(context.Background(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, "a"); err == nil {
		t.Fatal("Wait with a canceled context and no token succeeded")
	}
	var nilLimiter *channel.RateLimiter
	if err := nilLimiter.Wait(ctx, "a"); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
}
