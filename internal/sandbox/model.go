package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// ModelChannel is the channel name of the model stand-in in records,
// faults and queries.
const ModelChannel = "model"

// modelAPI is the OpenAI chat completions contract:
// POST {base}/chat/completions, where the base is any path (…/v1).
type modelAPI struct {
	s       *Server
	answers *answers
}

func (*modelAPI) name() string { return ModelChannel }

func (*modelAPI) route(segs []string) (string, bool) {
	n := len(segs)
	return "", n >= 2 && segs[n-2] == "chat" && segs[n-1] == "completions"
}

// chatRequest is the part of a request the stand-in checks and uses.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	ResponseFormat      *responseFormat `json:"response_format"`
	Stream              bool            `json:"stream"`
	N                   *int            `json:"n"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Strict bool            `json:"strict"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

var (
	schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	chatRoles  = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}
)

// openAIError writes OpenAI's error shape {"error": {message, type,
// param, code}}.
func openAIError(w http.ResponseWriter, status int, typ, param, code, msg string, retryAfter time.Duration) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if param != "" {
		e["param"] = param
	}
	if code != "" {
		e["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func invalidRequest(w http.ResponseWriter, param, msg string) {
	openAIError(w, http.StatusBadRequest, "invalid_request_error", param, "", msg, 0)
}

func (a *modelAPI) serve(w http.ResponseWriter, r *http.Request, _ string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		openAIError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "",
			fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), 0)
		return
	}
	if !a.checkKey(w, r) {
		return
	}
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		openAIError(w, channel.HTTPStatus(err), "invalid_request_error", "", "", err.Error(), 0)
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		invalidRequest(w, "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
		return
	}
	if param, msg := validateChat(&req); msg != "" {
		invalidRequest(w, param, msg)
		return
	}
	if code, ok, bad := a.pickFault(r, req.Model); bad {
		invalidRequest(w, "", faultHeader+" must be an HTTP status such as 429 or 500")
		return
	} else if ok {
		a.fault(w, code, req.Model)
		return
	}
	last := lastUserText(req.Messages)
	ans, scripted := a.answers.take(req.Model, last)
	if scripted && ans.Delay.Duration > 0 {
		wait := min(ans.Delay.Duration, a.s.opts.MaxWait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up: nothing to answer, nothing recorded
		}
	}
	var content *string
	var refusal *string
	finish := "stop"
	switch {
	case scripted && ans.Refusal != "":
		refusal = &ans.Refusal
	case scripted:
		c := ans.text()
		content = &c
	default:
		c := standInAnswer(&req, last)
		content = &c
	}
	if scripted && ans.FinishReason != "" {
		finish = ans.FinishReason
	}
	completion := 0
	if content != nil {
		completion = tokens(*content)
		if limit := maxTokens(&req); limit > 0 && completion > limit {
			cut := truncateTokens(*content, limit)
			content, completion, finish = &cut, limit, "length"
		}
	} else {
		completion = tokens(*refusal)
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += 4 + tokens(string(m.Content))
	}
	id := "chatcmpl-" + randomID(18)
	a.s.store.add(Record{
		Channel: ModelChannel, Account: req.Model, MessageID: id,
		Body: json.RawMessage(body), ReceivedAt: a.s.opts.Now().UTC(),
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      id,
		"object":  "chat.completion",
		"created": a.s.opts.Now().Unix(),
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": refusal},
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage":              map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		"system_fingerprint": "fp_sandbox",
	})
}

// checkKey enforces the bearer key: present and, when the sandbox has
// one (Options.ModelAPIKey), equal to it. It writes OpenAI's 401 itself.
func (a *modelAPI) checkKey(w http.ResponseWriter, r *http.Request) bool {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		openAIError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 0)
		return false
	}
	if want := a.s.opts.ModelAPIKey; want != "" && subtle.ConstantTimeCompare([]byte(key), []byte(want)) != 1 {
		openAIError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
			"Incorrect API key provided: "+maskKey(key)+". You can find your API key in your account's settings.", 0)
		return false
	}
	return true
}

// maskKey shows a key the way OpenAI's 401 does: its start and its end.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", 8) + k[len(k)-4:]
}

// pickFault returns the fault of one request: the X-Sandbox-Fault header,
// else a registered fault of the model channel for this model (Fault.To).
// Random failures (Options.FailureRate) are for sends only.
func (a *modelAPI) pickFault(r *http.Request, model string) (code int, ok, bad bool) {
	if v := strings.TrimSpace(r.Header.Get(faultHeader)); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 400 || c > 599 {
			return 0, false, true
		}
		return c, true, false
	}
	code, ok = a.s.faults.take(ModelChannel, model)
	return code, ok, false
}

// fault answers an injected error the way OpenAI does.
func (a *modelAPI) fault(w http.ResponseWriter, code int, model string) {
	switch {
	case code == http.StatusUnauthorized:
		openAIError(w, code, "invalid_request_error", "", "invalid_api_key",
			"Incorrect API key provided: sk-********1234. You can find your API key in your account's settings.", 0)
	case code == http.StatusTooManyRequests:
		openAIError(w, code, "requests", "", "rate_limit_exceeded",
			fmt.Sprintf("Rate limit reached for %s on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in %s.", model, a.s.opts.RetryAfter),
			a.s.opts.RetryAfter)
	case code == http.StatusNotFound:
		openAIError(w, code, "invalid_request_error", "model", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), 0)
	case code == http.StatusServiceUnavailable:
		openAIError(w, code, "server_error", "", "", "The server is overloaded or not ready yet.", 0)
	case code >= 500:
		openAIError(w, code, "server_error", "", "", "The server had an error while processing your request. Sorry about that!", 0)
	default:
		openAIError(w, code, "invalid_request_error", "", "", "Sandbox injected error.", 0)
	}
}

// validateChat checks a request the way the API's validation does, and
// returns the offending parameter and a message, or "".
func validateChat(req *chatRequest) (string, string) {
	switch {
	case req.Model == "":
		return "model", "you must provide a model parameter"
	case len(req.Messages) == 0:
		return "messages", "[] is too short - 'messages'"
	case req.Stream:
		return "stream", "the sandbox does not stream: leave stream out"
	case req.N != nil && *req.N != 1:
		return "n", "the sandbox answers one choice: leave n out"
	}
	for i, m := range req.Messages {
		if !chatRoles[m.Role] {
			return fmt.Sprintf("messages.[%d].role", i), fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'.", m.Role)
		}
		if !contentOK(m.Content) {
			return fmt.Sprintf("messages.[%d].content", i), "content must be a string or an array of content parts"
		}
	}
	for _, mt := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if mt != nil && *mt < 1 {
			return "max_tokens", fmt.Sprintf("Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *mt)
		}
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 2) {
		return "temperature", fmt.Sprintf("%v is greater than the maximum of 2 - 'temperature'", *t)
	}
	if f := req.ResponseFormat; f != nil {
		switch f.Type {
		case "text", "json_object":
		case "json_schema":
			js := f.JSONSchema
			if js == nil {
				return "response_format.json_schema", "Missing required parameter: 'response_format.json_schema'."
			}
			if !schemaName.MatchString(js.Name) {
				return "response_format.json_schema.name", "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
			}
			var schema map[string]any
			if json.Unmarshal(js.Schema, &schema) != nil {
				return "response_format.json_schema.schema", "Invalid schema: the schema must be a JSON object."
			}
			if js.Strict {
				if msg := strictProblem(schema, "()"); msg != "" {
					return "response_format", fmt.Sprintf("Invalid schema for response_format '%s': %s", js.Name, msg)
				}
			}
		default:
			return "response_format.type", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", f.Type)
		}
	}
	return "", ""
}

func contentOK(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return true
	}
	var parts []map[string]any
	return json.Unmarshal(raw, &parts) == nil
}

// strictProblem applies the rules of strict structured outputs to a
// schema: every object lists all its properties as required and allows
// no others. It returns what breaks them, in OpenAI's words, or "".
func strictProblem(s map[string]any, where string) string {
	if isType(s, "object") {
		props, _ := s["properties"].(map[string]any)
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return fmt.Sprintf("In context=%s, 'additionalProperties' is required to be supplied and to be false.", where)
		}
		req := map[string]bool{}
		if list, ok := s["required"].([]any); ok {
			for _, x := range list {
				if name, ok := x.(string); ok {
					req[name] = true
				}
			}
		}
		for name, p := range props {
			if !req[name] {
				return fmt.Sprintf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", where, name)
			}
			if ps, ok := p.(map[string]any); ok {
				if msg := strictProblem(ps, where+", 'properties', '"+name+"'"); msg != "" {
					return msg
				}
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		return strictProblem(items, where+", 'items'")
	}
	return ""
}

// isType says whether a schema's type is (or includes) t.
func isType(s map[string]any, t string) bool {
	switch v := s["type"].(type) {
	case string:
		return v == t
	case []any:
		for _, x := range v {
			if x == t {
				return true
			}
		}
	}
	return false
}

// lastUserText is the text of the last user message.
func lastUserText(msgs []chatMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return textOf(msgs[i].Content)
		}
	}
	return ""
}

func textOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func maxTokens(req *chatRequest) int {
	if req.MaxCompletionTokens != nil {
		return *req.MaxCompletionTokens
	}
	if req.MaxTokens != nil {
		return *req.MaxTokens
	}
	return 0
}

// tokens estimates a text's tokens the usual way: about four bytes each.
func tokens(s string) int { return (len(s) + 3) / 4 }

// truncateTokens cuts s to about n tokens, on a character boundary.
func truncateTokens(s string, n int) string {
	cut := min(len(s), 4*n)
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
