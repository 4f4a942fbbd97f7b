package meta

import (
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// ClassifyGraphCode classifies the Graph-wide error codes every Meta
// channel can get (WhatsApp and Messenger add their own codes on top); ok
// is false for codes it does not know.
//
// Retryable: 1 (unknown, possibly a server error), 2 (service temporarily
// unavailable), 4 (application request limit), 17 (user request limit),
// 32 (Page request limit), 341 (application limit), 613 (rate limit),
// 80007 (WABA rate limit). Permanent: 3 (capability),
// 10 and 200–299 (permission), 100 (invalid parameter), 190 (invalid or
// expired access token), 368 (blocked for policy violations), 551 (person
// unavailable). Code 0 (AuthException) is left unknown on purpose: it
// cannot be told from an absent code, so callers classify it by HTTP status
// (Meta sends it with 401, hence Permanent).
func ClassifyGraphCode(code int) (class message.ErrorClass, ok bool) {
	switch {
	case code == 1, code == 2, code == 4, code == 17, code == 32, code == 341, code == 613, code == 80007:
		return message.Retryable, true
	case code == 3, code == 10, code == 100, code == 190, code == 368, code == 551,
		code >= 200 && code <= 299:
		return message.Permanent, true
	}
	return "", false
}

// ClassifyGraphError classifies a synchronous Graph error body: by its code
// (byCode, the channel's own codes on top of ClassifyGraphCode's), then by
// Graph's is_transient hint, then by the HTTP status.
func ClassifyGraphError(e *GraphError, httpStatus int, byCode func(int) (message.ErrorClass, bool)) message.ErrorClass {
	if c, ok := byCode(e.Code); ok {
		return c
	}
	if e.IsTransient {
		return message.Retryable
	}
	return channel.ClassifyHTTPStatus(httpStatus)
}
