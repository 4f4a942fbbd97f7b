package meta

import "net/http"

// Verifier is the authentication half of a Meta channel's webhook, shared
// by WhatsApp, Messenger and Instagram: it checks X-Hub-Signature-256 with
// the app secret and answers the verify handshake with the verify token.
// Both come from funcs because the credentials Secret may rotate at any
// time. Channel webhook types embed it and add their Parse.
type Verifier struct {
	// AppSecret returns the Meta app secret.
	AppSecret func() string
	// VerifyToken returns the token typed in the app dashboard.
	VerifyToken func() string
}

// Authenticate implements channel.Receiver's signature check.
func (v Verifier) Authenticate(h http.Header, body []byte) error {
	return VerifySignature(h.Get(SignatureHeader), body, call(v.AppSecret))
}

// Handshake implements channel.Handshaker.
func (v Verifier) Handshake(w http.ResponseWriter, r *http.Request) {
	ServeHandshake(w, r, call(v.VerifyToken))
}

func call(f func() string) string {
	if f == nil {
		return ""
	}
	return f()
}
