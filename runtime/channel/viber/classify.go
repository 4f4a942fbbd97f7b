package viber

import "github.com/chatflow-dev/chatflow/runtime/message"

// Status codes of send_message with a meaning for the executor (Viber's
// errors.md).
const (
	StatusOK                    = 0
	StatusReceiverNotSubscribed = 6
	StatusTooManyRequests       = 12
)

// Classify says whether a non-zero send_message status is worth
// retrying: 12 (Too Many Requests: 100 messages to a user within an hour
// without a reply) is Retryable; everything else, 6 (Receiver Not
// Subscribed) included, is Permanent and takes the node's onError: bad
// data (3, 4), auth and account states (2, 7–10, 15), no device (11),
// versions (13, 14), billing (23, 24), general errors.
func Classify(status int) message.ErrorClass {
	if status == StatusTooManyRequests {
		return message.Retryable
	}
	return message.Permanent
}
