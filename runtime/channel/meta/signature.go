package meta

import (
	"fmt"
	"strings"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// SignatureHeader is the header Meta signs webhook bodies in.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Signature errors; all wrap channel.ErrUnauthenticated (401), and they are
// distinct so logs say whether the header was absent, garbled or wrong.
var (
	ErrSignatureMissing   = fmt.Errorf("%w: %s header missing", channel.ErrUnauthenticated, SignatureHeader)
	ErrSignatureMalformed = fmt.Errorf("%w: %s is not sha256=<64 hex digits>", channel.ErrUnauthenticated, SignatureHeader)
	ErrSignatureMismatch  = fmt.Errorf("%w: %s does not match the body", channel.ErrUnauthenticated, SignatureHeader)
	// ErrNoAppSecret: no app secret is configured, so nothing can be
	// verified and everything is refused.
	ErrNoAppSecret = fmt.Errorf("%w: no app secret configured", channel.ErrUnauthenticated)
)

// VerifySignature checks header (the X-Hub-Signature-256 value,
// "sha256=<hex>") against HMAC-SHA256(appSecret, body), where body is the
// raw request bytes exactly as received (Meta signs its \uXXXX-escaped
// serialisation; re-marshalled JSON would not match). The comparison is
// constant-time on the decoded digest.
func VerifySignature(header string, body []byte, appSecret string) error {
	if appSecret == "" {
		return ErrNoAppSecret
	}
	if header == "" {
		return ErrSignatureMissing
	}
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return ErrSignatureMalformed
	}
	switch wellFormed, valid := channel.VerifyHMACSHA256(hexSig, body, appSecret); {
	case !wellFormed:
		return ErrSignatureMalformed
	case !valid:
		return ErrSignatureMismatch
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body: the
// sandbox, tests and a local webhook replayer use it.
func Sign(body []byte, appSecret string) string {
	return signaturePrefix + channel.SignHMACSHA256(body, appSecret)
}
