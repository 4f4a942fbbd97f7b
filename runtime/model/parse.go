package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind classifies a failed call; it is also the result label of the
// executor's model metrics.
type Kind string

// The kinds of failures.
const (
	// KindTimeout: no answer within the call's timeout.
	KindTimeout Kind = "timeout"
	// KindRateLimited: the endpoint answered 429 (retried while time allows).
	KindRateLimited Kind = "rate_limited"
	// KindQuota: the endpoint answered 429 insufficient_quota: the
	// account is out of credit, and waiting does not help.
	KindQuota Kind = "quota"
	// KindAuth: the key is missing or refused (401, 403).
	KindAuth Kind = "auth"
	// KindClient: the endpoint refused the request (another 4xx: an
	// unknown model, a schema it does not support, a prompt too long).
	KindClient Kind = "client_error"
	// KindServer: the endpoint failed (5xx, 408; retried while time allows).
	KindServer Kind = "server_error"
	// KindNetwork: no HTTP answer (connection refused or reset, a refused
	// private address; retried while time allows).
	KindNetwork Kind = "network_error"
	// KindInvalidResponse: a 2xx answer that is not a chat completion.
	KindInvalidResponse Kind = "invalid_response"
	// KindInvalidRequest: the request could not be built.
	KindInvalidRequest Kind = "invalid_request"
	// KindThrottled: the model's requestsPerMinute left no room within
	// the call's timeout (no request was sent).
	KindThrottled Kind = "throttled"
)

// Error is a failed call. Its message never holds the API key, the
// prompt or the answer.
type Error struct {
	Kind Kind
	// Status is the HTTP status of the last answer (0 without one).
	Status int
	// Type and Code are the endpoint's error type and code, when it
	// said (OpenAI: invalid_request_error, rate_limit_exceeded, ...).
	Type, Code string
	Message    string
	// RetryAfter is the delay the endpoint asked for.
	RetryAfter time.Duration
	// Attempts is how many requests the call made.
	Attempts int
	// Cause is the transport error of a KindNetwork failure.
	Cause error
}

// Error describes the failure on one line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		} else if e.Type != "" {
			b.WriteString(" " + e.Type)
		}
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Cause }

// Retryable says whether another attempt may succeed.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindServer, KindNetwork:
		return true
	}
	return false
}

// maxMessage bounds the endpoint's error message kept in an Error.
const maxMessage = 300

// ParseError reads a failed answer: OpenAI's error shape
// {"error": {"message", "type", "param", "code"}}, or anything else
// (a proxy's page), classified by status. It never fails.
func ParseError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var w struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &w) == nil && w.Error != nil {
		e.Message, e.Type = clean(w.Error.Message), clean(w.Error.Type)
		var code string
		if json.Unmarshal(w.Error.Code, &code) == nil {
			e.Code = clean(code)
		} else if len(w.Error.Code) > 0 && string(w.Error.Code) != "null" {
			e.Code = clean(string(w.Error.Code))
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	switch {
	case status == http.StatusTooManyRequests && (e.Code == "insufficient_quota" || e.Type == "insufficient_quota"):
		e.Kind = KindQuota
	case status == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = KindAuth
		// An endpoint may echo part of the key ("Incorrect API key
		// provided: sk-ab***yz"): say what happened in our own words.
		e.Message = "the endpoint refused the API key: check the Secret of spec.apiKeyRef"
	case status == http.StatusRequestTimeout || status >= 500:
		e.Kind = KindServer
	default:
		e.Kind = KindClient
	}
	return e
}

// clean keeps an endpoint's text short, single-line and UTF-8.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// wireResponse is the part of a chat completion the client reads.
type wireResponse struct {
	ID      string `json:"id"`
	Choices []struct {
		Message *struct {
			Content json.RawMessage `json:"content"`
			Refusal *string         `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// ParseResponse reads a chat completion: the first choice's content (a
// string, or a list of text parts as some endpoints send), its refusal,
// the finish reason and the usage. It never panics, whatever the body.
func ParseResponse(body []byte) (Response, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return Response{}, errors.New("the answer is not a chat completion: " + firstLine(err.Error()))
	}
	if len(w.Choices) == 0 || w.Choices[0].Message == nil {
		return Response{}, errors.New("the answer has no choices[0].message")
	}
	c := w.Choices[0]
	r := Response{ID: w.ID, FinishReason: c.FinishReason}
	if w.Usage != nil {
		r.Usage = *w.Usage
		if r.Usage.PromptTokens < 0 || r.Usage.CompletionTokens < 0 || r.Usage.TotalTokens < 0 {
			r.Usage = Usage{}
		}
	}
	content, err := contentText(c.Message.Content)
	if err != nil {
		return Response{}, err
	}
	r.Content = content
	if c.Message.Refusal != nil {
		r.Refusal = *c.Message.Refusal
	}
	if r.Refusal == "" && r.FinishReason == "content_filter" {
		r.Refusal = "the endpoint filtered the answer (finish_reason content_filter)"
	}
	return r, nil
}

// contentText reads message.content: a string, null, or a list of parts
// of which the text ones count.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", errors.New("the answer's message.content is neither text nor a list of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "output_text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Result is the outcome of a call as the metrics name it: ok, refusal,
// empty, or the Kind of the failure.
func Result(r Response, err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return string(e.Kind)
	case err != nil:
		return string(KindNetwork)
	case r.Refusal != "":
		return "refusal"
	case strings.TrimSpace(r.Content) == "":
		return "empty"
	}
	return "ok"
}

// Results are every value Result returns, for metrics that start at zero.
var Results = []string{"ok", "refusal", "empty", string(KindTimeout), string(KindRateLimited), string(KindQuota),
	string(KindAuth), string(KindClient), string(KindServer), string(KindNetwork), string(KindInvalidResponse),
	string(KindInvalidRequest), string(KindThrottled)}
