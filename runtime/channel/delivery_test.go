package channel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// step is one scripted response of the test server.
type step struct {
	status     int
	retryAfter string
	body       string
}

// scripted serves steps in order, repeating the last one, and counts calls.
func scripted(t *testing.T, steps ...step) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		s := steps[min(i, len(steps)-1)]
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.WriteHeader(s.status)
		fmt.Fprint(w, s.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// plainDecoder: 2xx bodies are the message id; errors are left to the
// default classification by HTTP status.
func plainDecoder(status int, _ http.Header, body []byte) (string, *message.SendError) {
	if status/100 == 2 {
		return string(body), nil
	}
	return "", &message.SendError{Code: status, Message: string(body)}
}

func post(url string) channel.RequestFunc {
	return func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	}
}

func TestDeliveryRetries(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		decode     channel.Decoder
		wantCalls  int32
		wantID     string
		wantClass  message.ErrorClass
		wantCode   int
		wantMinRA  time.Duration // the first sleep is at least this
		wantSleeps int
	}{
		{name: "success", steps: []step{{200, "", "id1"}}, wantCalls: 1, wantID: "id1"},
		{name: "429 with Retry-After seconds, then success",
			steps:     []step{{429, "7", "slow down"}, {200, "", "id2"}},
			wantCalls: 2, wantID: "id2", wantMinRA: 7 * time.Second, wantSleeps: 1},
		{name: "429 with Retry-After HTTP date",
			steps:     []step{{429, epoch.Add(12 * time.Second).Format(http.TimeFormat), ""}, {200, "", "id3"}},
			wantCalls: 2, wantID: "id3", wantMinRA: 12 * time.Second, wantSleeps: 1},
		{name: "500 then 503 then success",
			steps:     []step{{500, "", "boom"}, {503, "", "busy"}, {200, "", "id4"}},
			wantCalls: 3, wantID: "id4", wantSleeps: 2},
		{name: "400 is permanent, not retried",
			steps:     []step{{400, "", "bad"}},
			wantCalls: 1, wantClass: message.Permanent, wantCode: 400},
		{name: "attempts are bounded",
			steps:     []step{{502, "", "down"}},
			wantCalls: 4, wantClass: message.Retryable, wantCode: 502, wantSleeps: 3},
		{name: "channel says permanent despite 500",
			steps: []step{{500, "", "x"}},
			decode: func(status int, _ http.Header, _ []byte) (string, *message.SendError) {
				return "", &message.SendError{Class: message.Permanent, Code: 131047, Message: "window"}
			},
			wantCalls: 1, wantClass: message.Permanent, wantCode: 131047},
		{name: "channel says retryable despite 400",
			steps: []step{{400, "", "x"}, {200, "", "id5"}},
			decode: func(status int, h http.Header, b []byte) (string, *message.SendError) {
				if status == 400 {
					return "", &message.SendError{Class: message.Retryable, Code: 131056, Message: "pair"}
				}
				return plainDecoder(status, h, b)
			},
			wantCalls: 2, wantID: "id5", wantSleeps: 1},
		{name: "Retry-After beyond MaxRetryAfter ends the attempts",
			steps:     []step{{429, "3600", ""}},
			wantCalls: 1, wantClass: message.Retryable, wantCode: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := scripted(t, tt.steps...)
			clock := fakeclock.NewFakeClock(epoch)
			var retries []int
			d := &channel.Delivery{
				Client: srv.Client(), Clock: clock, Rand: func() float64 { return 0.5 },
				OnRetry: func(attempt int, _ *message.SendError, _ time.Duration) { retries = append(retries, attempt) },
			}
			decode := tt.decode
			if decode == nil {
				decode = plainDecoder
			}
			rc := d.Do(context.Background(), "acct", post(srv.URL), decode)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if rc.MessageID != tt.wantID {
				t.Errorf("MessageID = %q, want %q", rc.MessageID, tt.wantID)
			}
			if tt.wantClass == "" && rc.Error != nil {
				t.Fatalf("unexpected error %+v", rc.Error)
			}
			if tt.wantClass != "" {
				if rc.Error == nil || rc.Error.Class != tt.wantClass || rc.Error.Code != tt.wantCode {
					t.Fatalf("Error = %+v, want class %s code %d", rc.Error, tt.wantClass, tt.wantCode)
				}
			}
			sleeps := clock.Sleeps()
			if len(sleeps) != tt.wantSleeps || len(retries) != tt.wantSleeps {
				t.Fatalf("sleeps = %v, OnRetry = %v; want %d of each", sleeps, retries, tt.wantSleeps)
			}
			if tt.wantMinRA > 0 && sleeps[0] < tt.wantMinRA {
				t.Errorf("first sleep %v < Retry-After %v", sleeps[0], tt.wantMinRA)
			}
		})
	}
}

func TestDeliveryRetryAfterKeptOnError(t *testing.T) {
	srv, _ := scripted(t, step{429, "3600", ""})
	d := &channel.Delivery{Client: srv.Client(), Clock: fakeclock.NewFakeClock(epoch)}
	rc := d.Do(context.Background(), "acct", post(srv.URL), plainDecoder)
	if rc.Error == nil || rc.Error.RetryAfter != time.Hour {
		t.Fatalf("Error = %+v, want RetryAfter 1h so the executor can reschedule", rc.Error)
	}
}

func TestDeliveryBackoffGrowsWithJitter(t *testing.T) {
	srv, _ := scripted(t, step{500, "", ""})
	clock := fakeclock.NewFakeClock(epoch)
	d := &channel.Delivery{
		Client: srv.Client(), Clock: clock, Rand: func() float64 { return 0.5 },
		Retry: channel.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 5 * time.Second},
	}
	d.Do(context.Background(), "acct", post(srv.URL), plainDecoder)
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2500 * time.Millisecond}
	if got := clock.Sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sleeps = %v, want %v", got, want)
	}
}

func TestDeliveryNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/v21.0/me/messages?access_token=SECRET-TOKEN"
	srv.Close() // connection refused from now on
	clock := fakeclock.NewFakeClock(epoch)
	d := &channel.Delivery{Clock: clock, Retry: channel.RetryPolicy{MaxAttempts: 2}}
	rc := d.Do(context.Background(), "acct", post(url), plainDecoder)
	if rc.Error == nil || rc.Error.Class != message.Retryable || rc.Error.Code != channel.CodeNetwork {
		t.Fatalf("Error = %+v, want a retryable network error", rc.Error)
	}
	if strings.Contains(rc.Error.Message, "SECRET") {
		t.Fatalf("error leaks the query string: %q", rc.Error.Message)
	}
	if len(clock.Sleeps()) != 1 {
		t.Fatalf("sleeps = %v, want one retry", clock.Sleeps())
	}
}

func TestDeliveryRequestBuildErrorIsPermanent(t *testing.T) {
	d := &channel.Delivery{Clock: fakeclock.NewFakeClock(epoch)}
	rc := d.Do(context.Background(), "acct", func(context.Context) (*http.Request, error) {
		return nil, errors.New("no token")
	}, plainDecoder)
	if rc.Error == nil || rc.Error.Class != message.Permanent || rc.Error.Code != channel.CodeLocal {
		t.Fatalf("Error = %+v", rc.Error)
	}
}

func TestDeliveryCanceledContextStops(t *testing.T) {
	srv, calls := scripted(t, step{500, "", ""})
	ctx, cancel := context.WithCancel(context.Background())
	d := &channel.Delivery{Client: srv.Client(), Clock: fakeclock.NewFakeClock(epoch),
		OnRetry: func(int, *message.SendError, time.Duration) { cancel() }}
	rc := d.Do(ctx, "acct", post(srv.URL), plainDecoder)
	if rc.Error == nil || rc.Error.Class != message.Retryable {
		t.Fatalf("Error = %+v, want the last retryable error", rc.Error)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d after cancel, want 1", calls.Load())
	}
}

func TestDeliveryRateLimited(t *testing.T) {
	srv, calls := scripted(t, step{200, "", "ok"})
	clock := fakeclock.NewFakeClock(epoch)
	d := &channel.Delivery{Client: srv.Client(), Clock: clock, Limiter: channel.NewRateLimiter(10, 1, clock)}
	for i := 0; i < 5; i++ {
		if rc := d.Do(context.Background(), "acct", post(srv.URL), plainDecoder); rc.Error != nil {
			t.Fatal(rc.Error)
		}
	}
	if calls.Load() != 5 || clock.Slept() != 400*time.Millisecond {
		t.Fatalf("calls = %d, waited %v; want 5 calls and 400ms of limiter wait", calls.Load(), clock.Slept())
	}
}
