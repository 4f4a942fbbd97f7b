package channel_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// FuzzParseRetryAfter: any Retry-After a channel (or a proxy) sends is
// read without panicking into a delay that is never negative; delay-seconds
// read exactly, and a value ParseRetryAfter refuses leaves the caller to
// its own backoff.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", " 7 ", "-1", "9223372036854775807", "99999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "soon", "", "1.5", "+3"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := channel.ParseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("%q: negative delay %v", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: refused but %v", v, d)
		}
		if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && secs >= 0 && secs < 1<<32 {
			if !ok || d != time.Duration(secs)*time.Second {
				t.Fatalf("%q: %v %v, want %ds", v, d, ok, secs)
			}
		}
	})
}
