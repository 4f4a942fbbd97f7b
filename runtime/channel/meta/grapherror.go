package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// GraphAPIBaseURL is the Graph API's base URL, version included, which the
// Cloud API (WhatsApp), Messenger and Instagram Messaging share.
const GraphAPIBaseURL = "https://graph.facebook.com/v21.0"

// GraphError is the error object of a Graph API error response,
// {"error": {...}}, shared by the WhatsApp Cloud API, Messenger and
// Instagram send APIs. Meta advises keying handling on Code and
// ErrorData.Details; ErrorSubcode is deprecated (absent since v16) and
// titles inside Message will go away.
type GraphError struct {
	Message        string     `json:"message"`
	Type           string     `json:"type,omitempty"`
	Code           int        `json:"code"`
	ErrorSubcode   int        `json:"error_subcode,omitempty"`
	ErrorData      *ErrorData `json:"error_data,omitempty"`
	ErrorUserTitle string     `json:"error_user_title,omitempty"`
	ErrorUserMsg   string     `json:"error_user_msg,omitempty"`
	IsTransient    bool       `json:"is_transient,omitempty"`
	FBTraceID      string     `json:"fbtrace_id,omitempty"`
}

// ErrorData is GraphError.error_data. WhatsApp sends an object
// {"messaging_product", "details"}; other Graph endpoints sometimes send a
// string, which decodes into Details.
type ErrorData struct {
	MessagingProduct string `json:"messaging_product,omitempty"`
	Details          string `json:"details,omitempty"`
}

// UnmarshalJSON accepts the object form, a string, or null.
func (d *ErrorData) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &d.Details)
	}
	if len(b) > 0 && b[0] == '{' {
		type plain ErrorData
		return json.Unmarshal(b, (*plain)(d))
	}
	return nil
}

// GraphErrorBody is the whole error response, {"error": {...}}.
type GraphErrorBody struct {
	Error *GraphError `json:"error"`
}

// ParseGraphError reads a Graph error response body; ok is false when the
// body is not one (an HTML error page from a proxy, an empty body).
func ParseGraphError(body []byte) (e *GraphError, ok bool) {
	var b GraphErrorBody
	if err := json.Unmarshal(body, &b); err != nil || b.Error == nil {
		return nil, false
	}
	if b.Error.Code == 0 && b.Error.Message == "" && b.Error.Type == "" {
		return nil, false
	}
	return b.Error, true
}

// Error returns the message with the details when present, e.g.
// "(#130429) Rate limit hit: Message failed to send because ...".
func (e *GraphError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("Graph API error %d", e.Code)
	}
	if e.ErrorData != nil && e.ErrorData.Details != "" && !strings.Contains(msg, e.ErrorData.Details) {
		msg += ": " + e.ErrorData.Details
	}
	return msg
}
