package messenger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

const (
	pageID = "1234567890"
	igID   = "17841472110558136"
	token  = "EAAG-page-token"
)

type rig struct {
	sb     *sandbox.Server
	calls  atomic.Int32
	query  atomic.Value
	clock  *fakeclock.FakeClock
	client *messenger.Client
}

func newRig(t *testing.T, f messenger.Flavor, account string) *rig {
	t.Helper()
	r := &rig{sb: sandbox.New(sandbox.Options{Tokens: map[string]string{account: token}, Instagram: []string{igID}}),
		clock: fakeclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		r.query.Store(req.URL.Path + "?" + req.URL.RawQuery)
		r.sb.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	c, err := messenger.NewClient(messenger.Config{
		Flavor: f, AccountID: account,
		AccessToken: func(context.Context) (string, error) { return token, nil },
		APIBaseURL:  srv.URL + "/v21.0",
		Delivery:    channel.Delivery{Client: srv.Client(), Clock: r.clock, Rand: func() float64 { return 0.5 }},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	return r
}

func TestClientAgainstSandbox(t *testing.T) {
	hello := message.Outbound{To: message.Contact{ID: "5678", Channel: message.Messenger}, Text: "hello"}
	tests := []struct {
		name      string
		code      int
		times     int
		wantCalls int32
		wantOK    bool
		wantClass message.ErrorClass
		wantCode  int
	}{
		{name: "ok", wantCalls: 1, wantOK: true},
		{name: "613 rate limit is retried", code: 613, times: 2, wantCalls: 3, wantOK: true},
		{name: "1200 temporary failure is retried", code: 1200, times: 1, wantCalls: 2, wantOK: true},
		{name: "5xx is retried", code: 503, times: 1, wantCalls: 2, wantOK: true},
		{name: "613 until attempts run out", code: 613, times: -1, wantCalls: 4, wantClass: message.Retryable, wantCode: 613},
		{name: "outside the window", code: 10, times: 1, wantCalls: 1, wantClass: message.Permanent, wantCode: 10},
		{name: "invalid parameter", code: 100, times: 1, wantCalls: 1, wantClass: message.Permanent, wantCode: 100},
		{name: "user unavailable", code: 551, times: 1, wantCalls: 1, wantClass: message.Permanent, wantCode: 551},
		{name: "token", code: 190, times: 1, wantCalls: 1, wantClass: message.Permanent, wantCode: 190},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, messenger.Messenger, pageID)
			if tt.code != 0 {
				if _, err := r.sb.AddFault(sandbox.Fault{Channel: "messenger", Code: tt.code, Times: tt.times}); err != nil {
					t.Fatal(err)
				}
			}
			rc := r.client.Send(context.Background(), hello)
			if got := r.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantOK {
				if rc.Error != nil || !strings.HasPrefix(rc.MessageID, "m_") {
					t.Fatalf("receipt %+v %v", rc, rc.Error)
				}
				return
			}
			if rc.Error == nil || rc.Error.Class != tt.wantClass || rc.Error.Code != tt.wantCode {
				t.Fatalf("receipt %+v, want %s %d", rc.Error, tt.wantClass, tt.wantCode)
			}
			if strings.Contains(rc.Error.Message, token) {
				t.Fatal("the error leaks the token")
			}
		})
	}
}

func TestClientPathsAndParts(t *testing.T) {
	r := newRig(t, messenger.Messenger, pageID)
	rc := r.client.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u"}, Text: "caption",
		Media: &message.Media{Kind: message.Image, URL: "https://x/i.png"}, QuickReplies: []message.Button{{ID: "a", Title: "A"}}})
	if rc.Error != nil || r.calls.Load() != 2 {
		t.Fatalf("%+v calls %d", rc.Error, r.calls.Load())
	}
	if q := r.query.Load().(string); q != "/v21.0/"+pageID+"/messages?access_token="+token {
		t.Errorf("request %s", q)
	}
	recs := r.sb.Messages(sandbox.Query{Channel: "messenger"})
	if len(recs) != 2 || recs[1].MessageID != rc.MessageID || !strings.Contains(string(recs[1].Body), "quick_replies") {
		t.Fatalf("records %+v receipt %s", recs, rc.MessageID)
	}
	// Instagram posts to /me/messages; the sandbox resolves the account by token.
	ig := newRig(t, messenger.Instagram, igID)
	if rc := ig.client.Send(context.Background(), message.Outbound{To: message.Contact{ID: "igsid"}, Text: "hi"}); rc.Error != nil {
		t.Fatal(rc.Error)
	}
	if q := ig.query.Load().(string); !strings.HasPrefix(q, "/v21.0/me/messages?") {
		t.Errorf("instagram request %s", q)
	}
	if recs := ig.sb.Messages(sandbox.Query{Channel: "instagram"}); len(recs) != 1 || recs[0].Account != igID {
		t.Fatalf("instagram records %+v", recs)
	}
	// Refused by Render: no request.
	if rc := ig.client.Send(context.Background(), message.Outbound{To: message.Contact{ID: "igsid"}, Text: strings.Repeat("x", 1001)}); rc.Error == nil ||
		rc.Error.Code != channel.CodeInvalidMessage || rc.Error.Class != message.Permanent || ig.calls.Load() != 1 {
		t.Fatalf("%+v", rc.Error)
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[int]message.ErrorClass{613: message.Retryable, 4: message.Retryable, 1200: message.Retryable,
		10: message.Permanent, 100: message.Permanent, 551: message.Permanent, 230: message.Permanent, 190: message.Permanent} {
		if got := messenger.Classify(code, 400); got != want {
			t.Errorf("Classify(%d) = %s, want %s", code, got, want)
		}
	}
	if messenger.Classify(99999, 502) != message.Retryable || messenger.Classify(99999, 400) != message.Permanent {
		t.Error("unknown codes are not classified by status")
	}
}

func TestErrorFixtures(t *testing.T) {
	for _, tt := range []struct {
		file   string
		status int
		class  message.ErrorClass
		code   int
	}{{"messenger/error_response.json", 401, message.Permanent, 190}, {"messenger/error_response_rate_limit_613_mock.json", 429, message.Retryable, 613}} {
		body := fixture(t, tt.file)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write(body)
		}))
		c, _ := messenger.NewClient(messenger.Config{Flavor: messenger.Messenger, AccountID: pageID,
			AccessToken: func(context.Context) (string, error) { return token, nil }, APIBaseURL: srv.URL,
			Delivery: channel.Delivery{Client: srv.Client(), Clock: fakeclock.NewFakeClock(time.Now()), Retry: channel.RetryPolicy{MaxAttempts: 1}}})
		rc := c.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u"}, Text: "x"})
		srv.Close()
		if rc.Error == nil || rc.Error.Class != tt.class || rc.Error.Code != tt.code {
			t.Errorf("%s: %+v", tt.file, rc.Error)
		}
	}
	// send_response.json is a success.
	body := fixture(t, "messenger/send_response.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	c, _ := messenger.NewClient(messenger.Config{Flavor: messenger.Messenger, AccountID: pageID,
		AccessToken: func(context.Context) (string, error) { return token, nil }, APIBaseURL: srv.URL, Delivery: channel.Delivery{Client: srv.Client()}})
	if rc := c.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u"}, Text: "x"}); rc.MessageID != "AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P" {
		t.Errorf("%+v", rc)
	}
}
