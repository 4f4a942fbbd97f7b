package messenger

import (
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Classify says whether a Send API error is worth retrying, keyed on the
// Graph code as Meta advises. httpStatus is the response status.
//
// Retryable: rate limits (613 "Calls to this api have exceeded the rate
// limit", 4, 17, 32, 341), 1200 ("Temporary send message failure. Please
// try again later."), Graph's 1 and 2, and is_transient errors.
//
// Permanent, for the SendMessage node's onError: 10 (with subcode 2018278,
// "This message is sent outside of allowed window"), 100 (invalid
// parameter; subcode 2018001 "No matching user found"), 551 ("This person
// isn't available right now"), 190 (access token), 200–299 and 230
// (permissions), 368 (blocked for policy).
//
// Unknown codes: Retryable when the status is 408, 429 or 5xx, Permanent
// otherwise.
func Classify(code, httpStatus int) message.ErrorClass {
	if c, ok := classifyCode(code); ok {
		return c
	}
	return channel.ClassifyHTTPStatus(httpStatus)
}

func classifyCode(code int) (message.ErrorClass, bool) {
	switch code {
	case 1200:
		return message.Retryable, true
	case 230:
		return message.Permanent, true
	}
	return meta.ClassifyGraphCode(code)
}
