package whatsapp

import (
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Classify says whether a Cloud API error code is worth retrying, keyed on
// the code as Meta advises, not on the HTTP status (Meta answers one
// family of errors with different statuses). httpStatus is the response
// status of a synchronous error, or 0 for a failed-status webhook.
//
// Retryable: throughput and pair rate limits (130429, 131056), the spam
// rate limit 131048 (as courier does; it may last long, so the executor's
// own retry budget decides), 131000 (something went wrong), 131016
// (service unavailable), 131053 (media upload error), 131057 (account in
// maintenance), 133016, and Graph's 1, 2, 4, 17, 32, 341, 613, 80007.
//
// Permanent: 131047 (outside the 24-hour window: send a template),
// 131026 (undeliverable), 131051 (unsupported type), 131008/131009
// (missing/invalid parameter), 131005, 131014, 131021, 131031, 131042,
// 131045, 131049, 131050, 131052, 130472, 130497, every 132xxx
// (template), 133000–133015, 135000, 470, and Graph's 3, 10, 100, 190,
// 200–299, 368, 551.
//
// Unknown codes: Retryable when the status is 408, 429 or 5xx, Permanent
// otherwise, and Permanent in a status webhook.
func Classify(code, httpStatus int) message.ErrorClass {
	if c, ok := classifyCode(code); ok {
		return c
	}
	if httpStatus > 0 {
		return channel.ClassifyHTTPStatus(httpStatus)
	}
	return message.Permanent
}

func classifyCode(code int) (message.ErrorClass, bool) {
	switch code {
	case 130429, 131056, 131048, 131000, 131016, 131053, 131057, 133016:
		return message.Retryable, true
	case 131047, 131026, 131051, 131008, 131009, 131005, 131014, 131021, 131031, 131042,
		131045, 131049, 131050, 131052, 130472, 130497, 135000, 470:
		return message.Permanent, true
	}
	switch {
	case code >= 132000 && code <= 132999, code >= 133000 && code <= 133015:
		return message.Permanent, true
	}
	return meta.ClassifyGraphCode(code)
}
