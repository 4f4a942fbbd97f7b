package meta

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// Handshake errors. ErrHandshakeIncomplete wraps channel.ErrMalformed (400);
// the other two wrap channel.ErrForbidden (403).
var (
	ErrHandshakeIncomplete = fmt.Errorf("%w: hub.mode, hub.verify_token and hub.challenge are required", channel.ErrMalformed)
	ErrHandshakeMode       = fmt.Errorf("%w: hub.mode is not subscribe", channel.ErrForbidden)
	ErrHandshakeToken      = fmt.Errorf("%w: hub.verify_token does not match", channel.ErrForbidden)
)

// maxChallenge bounds the echoed challenge; Meta sends a short integer.
const maxChallenge = 1024

// CheckHandshake validates Meta's verification request query
// (hub.mode=subscribe, hub.verify_token, hub.challenge) against the
// configured verify tokens and returns the challenge to echo. The token
// must equal one of them; each is compared in constant time, and all of
// them are, so the time taken does not tell which matched. An empty
// configured token never matches, so an unconfigured binding cannot be
// subscribed by anyone. Several tokens serve a gateway, whose one callback
// URL stands for every binding of a channel.
func CheckHandshake(q url.Values, verifyTokens ...string) (challenge string, err error) {
	mode, token, challenge := q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge")
	if mode == "" || token == "" || challenge == "" || len(challenge) > maxChallenge {
		return "", ErrHandshakeIncomplete
	}
	if mode != "subscribe" {
		return "", ErrHandshakeMode
	}
	match := 0
	for _, want := range verifyTokens {
		if want != "" {
			match |= subtle.ConstantTimeCompare([]byte(token), []byte(want))
		}
	}
	if match != 1 {
		return "", ErrHandshakeToken
	}
	return challenge, nil
}

// ServeHandshake answers a verification request: 200 with the raw
// challenge as text/plain when the token is one of verifyTokens, 400 when
// parameters are missing, 403 on a wrong token or mode, 405 for a method
// other than GET or HEAD.
func ServeHandshake(w http.ResponseWriter, r *http.Request, verifyTokens ...string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	challenge, err := CheckHandshake(r.URL.Query(), verifyTokens...)
	if err != nil {
		http.Error(w, err.Error(), channel.HTTPStatus(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(challenge))
}
