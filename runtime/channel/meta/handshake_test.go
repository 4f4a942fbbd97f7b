package meta_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// The values of testdata/verification_request.txt, Meta's sample request.
const (
	sampleChallenge = "1158201444"
	sampleToken     = "meatyhamhock"
)

func TestServeHandshake(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		query      string
		configured string
		wantStatus int
		wantBody   string
	}{
		{"right token", "GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", sampleToken, 200, sampleChallenge},
		{"challenge echoed as an opaque string", "GET", "hub.mode=subscribe&hub.challenge=abc%3Cx%3E&hub.verify_token=meatyhamhock", sampleToken, 200, "abc<x>"},
		{"wrong token", "GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=nope", sampleToken, 403, ""},
		{"token prefix", "GET", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyham", sampleToken, 403, ""},
		{"wrong mode", "GET", "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", sampleToken, 403, ""},
		{"no token configured", "GET", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=x", "", 403, ""},
		{"missing challenge", "GET", "hub.mode=subscribe&hub.verify_token=meatyhamhock", sampleToken, 400, ""},
		{"missing token", "GET", "hub.mode=subscribe&hub.challenge=1", sampleToken, 400, ""},
		{"missing mode", "GET", "hub.challenge=1&hub.verify_token=meatyhamhock", sampleToken, 400, ""},
		{"no parameters", "GET", "", sampleToken, 400, ""},
		{"POST is not a handshake", "POST", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhock", sampleToken, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/webhooks/whatsapp?"+tt.query, nil)
			w := httptest.NewRecorder()
			v := meta.Verifier{VerifyToken: func() string { return tt.configured }}
			v.Handshake(w, r)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.wantStatus, body)
			}
			if tt.wantStatus == 200 {
				if string(body) != tt.wantBody {
					t.Fatalf("body = %q, want %q", body, tt.wantBody)
				}
				if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Fatalf("Content-Type = %q", ct)
				}
			}
		})
	}
}

func TestCheckHandshakeErrors(t *testing.T) {
	q := url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {sampleChallenge}, "hub.verify_token": {"bad"}}
	_, err := meta.CheckHandshake(q, sampleToken)
	if !errors.Is(err, meta.ErrHandshakeToken) || channel.HTTPStatus(err) != http.StatusForbidden {
		t.Fatalf("wrong token: %v", err)
	}
	q.Del("hub.challenge")
	_, err = meta.CheckHandshake(q, sampleToken)
	if !errors.Is(err, meta.ErrHandshakeIncomplete) || channel.HTTPStatus(err) != http.StatusBadRequest {
		t.Fatalf("missing: %v", err)
	}
}

// TestCheckHandshakeAnyOfSeveralTokens: a gateway checks the token against
// every binding of the channel; any one of them matches, none of the empty
// ones does.
func TestCheckHandshakeAnyOfSeveralTokens(t *testing.T) {
	q := func(token string) url.Values {
		return url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {sampleChallenge}, "hub.verify_token": {token}}
	}
	tokens := []string{"", "shop-token", sampleToken}
	for _, tok := range []string{"shop-token", sampleToken} {
		if c, err := meta.CheckHandshake(q(tok), tokens...); err != nil || c != sampleChallenge {
			t.Errorf("token %q: %q, %v", tok, c, err)
		}
	}
	for _, tok := range []string{"shop", "other"} {
		if _, err := meta.CheckHandshake(q(tok), tokens...); !errors.Is(err, meta.ErrHandshakeToken) {
			t.Errorf("token %q: %v, want ErrHandshakeToken", tok, err)
		}
	}
	if _, err := meta.CheckHandshake(q("x")); !errors.Is(err, meta.ErrHandshakeToken) {
		t.Errorf("no tokens at all: %v", err)
	}
}
