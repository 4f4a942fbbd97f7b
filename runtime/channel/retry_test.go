package channel_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

func TestBackoffFullJitter(t *testing.T) {
	p := channel.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	tests := []struct {
		retry int
		r     float64
		want  time.Duration
	}{
		{1, 0, 0},
		{1, 0.5, 50 * time.Millisecond},
		{2, 0.5, 100 * time.Millisecond},
		{3, 0.5, 200 * time.Millisecond},
		{4, 0.5, 400 * time.Millisecond},
		{5, 0.5, 500 * time.Millisecond}, // capped at MaxDelay
		{200, 0.5, 500 * time.Millisecond},
		{0, 0.5, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := p.Backoff(tt.retry, tt.r); got != tt.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.retry, tt.r, got, tt.want)
		}
	}
	// Never reaches the ceiling itself, never negative.
	for retry := 1; retry < 80; retry++ {
		if d := p.Backoff(retry, 0.99999999999); d < 0 || d >= time.Second {
			t.Fatalf("Backoff(%d, ~1) = %v, want in [0, 1s)", retry, d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		v      string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Mon, 03 Nov 2026 10:00:05 GMT", 5 * time.Second, true},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := channel.ParseRetryAfter(tt.v, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.wantOK)
		}
	}
}
