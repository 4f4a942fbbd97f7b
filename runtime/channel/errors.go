package channel

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors shared by every channel, so the webhook server maps them
// to HTTP statuses without knowing the channel. Channel errors wrap them;
// test with errors.Is.
var (
	// ErrMalformed: the body is not the channel's JSON (400). The channel
	// would retry a 400 in vain, but acknowledging garbage as 200 would hide
	// a broken integration.
	ErrMalformed = errors.New("malformed webhook body")
	// ErrUnauthenticated: the signature is missing or wrong (401); nothing
	// of the request may be processed.
	ErrUnauthenticated = errors.New("webhook not authenticated")
	// ErrForbidden: a handshake with the wrong verify token or mode (403).
	ErrForbidden = errors.New("forbidden")
	// ErrTooLarge: the body exceeds the configured cap (413). Returned
	// errors are *TooLargeError values.
	ErrTooLarge = errors.New("request body too large")
)

// Codes of SendErrors that did not come from the channel (message.SendError
// documents Code as the channel's code or the HTTP status). Negative so they
// never collide with either.
const (
	// CodeInvalidMessage: the Outbound cannot be rendered for this channel
	// (e.g. four reply buttons on WhatsApp). Always Permanent.
	CodeInvalidMessage = -1
	// CodeNetwork: no HTTP response (connection refused, timeout, reset).
	CodeNetwork = -2
	// CodeLocal: a local failure before sending (no access token, bad
	// configuration).
	CodeLocal = -3
)

// TooLargeError is returned by ReadBody when the body exceeds its limit. It
// matches ErrTooLarge under errors.Is.
type TooLargeError struct {
	// Limit is the cap in bytes that was exceeded.
	Limit int64
}

// Error says what limit was exceeded.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body larger than %d bytes", e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// HTTPStatus is the status a webhook route answers for err: 200 for nil,
// 413, 400, 401 or 403 for the sentinels above, 500 for anything else (a
// read error or a bug; the channel will redeliver).
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}
