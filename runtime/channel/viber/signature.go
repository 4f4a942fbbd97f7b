package viber

import (
	"fmt"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// SignatureHeader is the header Viber signs callbacks in.
const SignatureHeader = "X-Viber-Content-Signature"

// Signature errors; all wrap channel.ErrUnauthenticated (401).
var (
	ErrSignatureMissing   = fmt.Errorf("%w: %s header missing", channel.ErrUnauthenticated, SignatureHeader)
	ErrSignatureMalformed = fmt.Errorf("%w: %s is not 64 hex digits", channel.ErrUnauthenticated, SignatureHeader)
	ErrSignatureMismatch  = fmt.Errorf("%w: %s does not match the body", channel.ErrUnauthenticated, SignatureHeader)
	// ErrNoAuthToken: no auth token is configured, so nothing can be
	// verified and everything is refused.
	ErrNoAuthToken = fmt.Errorf("%w: no Viber auth token configured", channel.ErrUnauthenticated)
)

// VerifySignature checks header (the X-Viber-Content-Signature value,
// lowercase hex without prefix) against HMAC-SHA256(authToken, body) over
// the raw body bytes, in constant time on the decoded digest.
func VerifySignature(header string, body []byte, authToken string) error {
	if authToken == "" {
		return ErrNoAuthToken
	}
	if header == "" {
		return ErrSignatureMissing
	}
	switch wellFormed, valid := channel.VerifyHMACSHA256(header, body, authToken); {
	case !wellFormed:
		return ErrSignatureMalformed
	case !valid:
		return ErrSignatureMismatch
	}
	return nil
}

// Sign returns the X-Viber-Content-Signature value Viber would send for
// body; tests and a local replayer use it.
func Sign(body []byte, authToken string) string { return channel.SignHMACSHA256(body, authToken) }
