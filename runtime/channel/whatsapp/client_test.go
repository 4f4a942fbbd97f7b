package whatsapp_test

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

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

const (
	phoneID = "106540352242922"
	token   = "EAAJB-secret-token"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rig is a Client wired to a sandbox through httptest, with a fake clock.
type rig struct {
	sb     *sandbox.Server
	srv    *httptest.Server
	calls  atomic.Int32
	clock  *fakeclock.FakeClock
	client *whatsapp.Client
}

func newRig(t *testing.T, limiter func(channel.Clock) *channel.RateLimiter) *rig {
	t.Helper()
	r := &rig{sb: sandbox.New(sandbox.Options{Tokens: map[string]string{phoneID: token}}), clock: fakeclock.NewFakeClock(epoch)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/messages") && req.Method == http.MethodPost {
			r.calls.Add(1)
		}
		r.sb.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	d := channel.Delivery{Client: r.srv.Client(), Clock: r.clock, Rand: func() float64 { return 0.5 }}
	if limiter != nil {
		d.Limiter = limiter(r.clock)
	}
	c, err := whatsapp.NewClient(whatsapp.Config{
		PhoneNumberID: phoneID,
		AccessToken:   func(context.Context) (string, error) { return token, nil },
		APIBaseURL:    r.srv.URL + "/v21.0",
		Delivery:      d,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	return r
}

func (r *rig) fault(t *testing.T, code, times int) {
	t.Helper()
	if _, err := r.sb.AddFault(sandbox.Fault{Channel: "whatsapp", Code: code, Times: times}); err != nil {
		t.Fatal(err)
	}
}

var hello = message.Outbound{To: message.Contact{ID: "16505551234", Channel: message.WhatsApp}, Text: "hello"}

func TestClientAgainstSandbox(t *testing.T) {
	tests := []struct {
		name       string
		code       int // fault code, 0 for none
		times      int
		wantCalls  int32
		wantOK     bool
		wantClass  message.ErrorClass
		wantCode   int
		wantMinRA  time.Duration
		wantSleeps int
	}{
		{name: "success", wantCalls: 1, wantOK: true},
		{name: "130429 with Retry-After retried, then success", code: 130429, times: 1, wantCalls: 2, wantOK: true, wantMinRA: time.Second, wantSleeps: 1},
		{name: "500 retried, then success", code: 500, times: 2, wantCalls: 3, wantOK: true, wantSleeps: 2},
		{name: "131056 pair rate limit retried", code: 131056, times: 1, wantCalls: 2, wantOK: true, wantSleeps: 1},
		{name: "131047 permanent, not retried", code: 131047, times: 1, wantCalls: 1, wantClass: message.Permanent, wantCode: 131047},
		{name: "retries bounded", code: 500, times: -1, wantCalls: channel.DefaultMaxAttempts, wantClass: message.Retryable, wantCode: 1, wantSleeps: channel.DefaultMaxAttempts - 1},
		{name: "rate limit forever gives up retryable", code: 130429, times: -1, wantCalls: channel.DefaultMaxAttempts, wantClass: message.Retryable, wantCode: 130429, wantMinRA: time.Second, wantSleeps: channel.DefaultMaxAttempts - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			if tt.code != 0 {
				r.fault(t, tt.code, tt.times)
			}
			rc := r.client.Send(context.Background(), hello)
			if got := r.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantOK {
				if rc.Error != nil || !strings.HasPrefix(rc.MessageID, "wamid.") {
					t.Fatalf("receipt %+v %+v", rc, rc.Error)
				}
				recs := r.sb.Messages(sandbox.Query{Channel: "whatsapp", To: "16505551234"})
				if len(recs) != 1 || recs[0].MessageID != rc.MessageID || recs[0].Account != phoneID {
					t.Fatalf("sandbox records %+v", recs)
				}
				want, _ := whatsapp.Render(hello)
				if !jsonEqual(t, recs[0].Body, want) {
					t.Fatalf("recorded body %s", recs[0].Body)
				}
			} else if rc.Error == nil || rc.Error.Class != tt.wantClass || rc.Error.Code != tt.wantCode || rc.MessageID != "" {
				t.Fatalf("receipt %+v, error %+v; want %s %d", rc, rc.Error, tt.wantClass, tt.wantCode)
			}
			sleeps := r.clock.Sleeps()
			if len(sleeps) != tt.wantSleeps {
				t.Fatalf("sleeps %v, want %d", sleeps, tt.wantSleeps)
			}
			for _, s := range sleeps {
				if s < tt.wantMinRA {
					t.Fatalf("slept %v, less than Retry-After %v", s, tt.wantMinRA)
				}
			}
		})
	}
}

func TestClientTokenBucket(t *testing.T) {
	r := newRig(t, func(c channel.Clock) *channel.RateLimiter { return channel.NewRateLimiter(10, 1, c) })
	for i := range 5 {
		out := hello
		out.Text = fmt.Sprint("n", i)
		if rc := r.client.Send(context.Background(), out); rc.Error != nil {
			t.Fatal(rc.Error)
		}
	}
	// 5 sends at 10/s with a burst of 1: the limiter made them wait 4 × 100ms.
	if r.calls.Load() != 5 || r.clock.Slept() != 400*time.Millisecond {
		t.Fatalf("calls %d, waited %v", r.calls.Load(), r.clock.Slept())
	}
}

func TestClientDefaultLimiterIs80PerSecond(t *testing.T) {
	r := newRig(t, nil)
	for range 81 {
		if rc := r.client.Send(context.Background(), hello); rc.Error != nil {
			t.Fatal(rc.Error)
		}
	}
	if got := r.clock.Sleeps(); len(got) != 1 || got[0] != time.Second/80 {
		t.Fatalf("sleeps %v, want the 81st send to wait 12.5ms", got)
	}
}

func TestClientWrongTokenNeverLeaks(t *testing.T) {
	r := newRig(t, nil)
	c, _ := whatsapp.NewClient(whatsapp.Config{
		PhoneNumberID: phoneID,
		AccessToken:   func(context.Context) (string, error) { return "EAAJB-stale", nil },
		APIBaseURL:    r.srv.URL,
		Delivery:      channel.Delivery{Client: r.srv.Client(), Clock: r.clock},
	})
	rc := c.Send(context.Background(), hello)
	if rc.Error == nil || rc.Error.Class != message.Permanent || rc.Error.Code != 190 {
		t.Fatalf("%+v", rc.Error)
	}
	if strings.Contains(rc.Error.Message, "EAAJB") {
		t.Fatalf("token in error: %q", rc.Error.Message)
	}
}

func TestClientTokenRotates(t *testing.T) {
	r := newRig(t, nil)
	var n atomic.Int32
	c, _ := whatsapp.NewClient(whatsapp.Config{
		PhoneNumberID: phoneID,
		AccessToken: func(context.Context) (string, error) {
			if n.Add(1) == 1 {
				return "old", nil // first attempt: rejected as 401, permanent
			}
			return token, nil
		},
		APIBaseURL: r.srv.URL,
		Delivery:   channel.Delivery{Client: r.srv.Client(), Clock: r.clock},
	})
	if rc := c.Send(context.Background(), hello); rc.Error == nil || rc.Error.Code != 190 {
		t.Fatalf("first send %+v", rc)
	}
	if rc := c.Send(context.Background(), hello); rc.Error != nil {
		t.Fatalf("second send with the rotated token: %+v", rc.Error)
	}
}

func TestClientLocalFailures(t *testing.T) {
	r := newRig(t, nil)
	rc := r.client.Send(context.Background(), message.Outbound{To: hello.To})
	if rc.Error == nil || rc.Error.Code != channel.CodeInvalidMessage || rc.Error.Class != message.Permanent || r.calls.Load() != 0 {
		t.Fatalf("invalid message: %+v, %d calls", rc.Error, r.calls.Load())
	}
	c, _ := whatsapp.NewClient(whatsapp.Config{
		PhoneNumberID: phoneID,
		AccessToken:   func(context.Context) (string, error) { return "", errors.New("secret not mounted") },
		APIBaseURL:    r.srv.URL,
		Delivery:      channel.Delivery{Client: r.srv.Client(), Clock: r.clock},
	})
	rc = c.Send(context.Background(), hello)
	if rc.Error == nil || rc.Error.Code != channel.CodeLocal || r.calls.Load() != 0 {
		t.Fatalf("no token: %+v", rc.Error)
	}
}

func TestClientNonGraphResponses(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantCalls int32
		wantClass message.ErrorClass
		wantCode  int
	}{
		{"502 HTML from a proxy is retried", 502, "<html>bad gateway</html>", channel.DefaultMaxAttempts, message.Retryable, 502},
		{"404 without body is permanent", 404, "", 1, message.Permanent, 404},
		{"200 without an id is not retried", 200, `{"messaging_product":"whatsapp"}`, 1, message.Permanent, 200},
		{"unknown Graph code on 503 is retried", 503, `{"error":{"message":"x","code":999999}}`, channel.DefaultMaxAttempts, message.Retryable, 999999},
		{"unknown transient Graph code on 400 is retried", 400, `{"error":{"message":"x","code":999999,"is_transient":true}}`, channel.DefaultMaxAttempts, message.Retryable, 999999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, _ := whatsapp.NewClient(whatsapp.Config{
				PhoneNumberID: phoneID,
				AccessToken:   func(context.Context) (string, error) { return token, nil },
				APIBaseURL:    srv.URL,
				Delivery:      channel.Delivery{Client: srv.Client(), Clock: fakeclock.NewFakeClock(epoch)},
			})
			rc := c.Send(context.Background(), hello)
			if rc.Error == nil || rc.Error.Class != tt.wantClass || rc.Error.Code != tt.wantCode || calls.Load() != tt.wantCalls {
				t.Fatalf("%+v, %d calls", rc.Error, calls.Load())
			}
		})
	}
}

func TestNewClientValidates(t *testing.T) {
	tok := func(context.Context) (string, error) { return "t", nil }
	for _, cfg := range []whatsapp.Config{
		{AccessToken: tok},
		{PhoneNumberID: "1"},
		{PhoneNumberID: "1", AccessToken: tok, APIBaseURL: "ftp://x"},
		{PhoneNumberID: "1", AccessToken: tok, APIBaseURL: "::"},
	} {
		if _, err := whatsapp.NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code, status int
		want         message.ErrorClass
	}{
		{130429, 429, message.Retryable}, {131056, 400, message.Retryable}, {4, 400, message.Retryable},
		{80007, 400, message.Retryable}, {131048, 400, message.Retryable}, {131000, 500, message.Retryable},
		{131016, 503, message.Retryable}, {131057, 400, message.Retryable}, {133016, 400, message.Retryable},
		{131047, 400, message.Permanent}, {131047, 500, message.Permanent}, {131026, 400, message.Permanent},
		{131051, 400, message.Permanent}, {131008, 400, message.Permanent}, {131009, 400, message.Permanent},
		{132000, 400, message.Permanent}, {132015, 400, message.Permanent}, {368, 403, message.Permanent},
		{190, 401, message.Permanent}, {10, 403, message.Permanent}, {100, 400, message.Permanent},
		{131014, 0, message.Permanent}, {0, 401, message.Permanent}, {0, 500, message.Retryable},
		{123456, 502, message.Retryable}, {123456, 400, message.Permanent}, {123456, 0, message.Permanent},
	}
	for _, tt := range tests {
		if got := whatsapp.Classify(tt.code, tt.status); got != tt.want {
			t.Errorf("Classify(%d, %d) = %s, want %s", tt.code, tt.status, got, tt.want)
		}
	}
}

func TestTypingMarksTheMessageRead(t *testing.T) {
	r := newRig(t, nil)
	const wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
	if err := r.client.Typing(context.Background(), wamid); err != nil {
		t.Fatal(err)
	}
	recs := r.sb.Messages(sandbox.Query{Channel: "whatsapp"})
	if len(recs) != 1 || recs[0].Kind != sandbox.KindRead || recs[0].MessageID != wamid {
		t.Fatalf("records: %+v", recs)
	}
	want := `{"messaging_product":"whatsapp","status":"read","message_id":"` + wamid + `","typing_indicator":{"type":"text"}}`
	if string(recs[0].Body) != want {
		t.Errorf("body:\n%s\nwant\n%s", recs[0].Body, want)
	}
	// Not retried: a late indicator is worse than none.
	if _, err := r.sb.AddFault(sandbox.Fault{Channel: "whatsapp", Code: 500, Times: 2}); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Typing(context.Background(), wamid); err == nil {
		t.Error("a 500 was not reported")
	}
	if n := r.calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if err := r.client.Typing(context.Background(), ""); err == nil {
		t.Error("an empty id was accepted")
	}
}
