package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Answer is a scripted answer of the model stand-in: the next request
// for Model (any model when empty) whose last user message matches
// Match (any when empty) gets it, Times times.
type Answer struct {
	// ID is assigned by the sandbox.
	ID int64 `json:"id"`
	// Model restricts the answer to requests for this model name.
	Model string `json:"model,omitempty"`
	// Match is a regular expression the last user message must match.
	Match string `json:"match,omitempty"`
	// Content is the answer's text. JSON, when set instead, is sent as
	// its compact JSON text (a structured answer; it is not checked
	// against the request's schema, so a test can answer wrongly).
	Content string          `json:"content,omitempty"`
	JSON    json.RawMessage `json:"json,omitempty"`
	// Refusal makes the model decline (message.refusal, no content).
	Refusal string `json:"refusal,omitempty"`
	// FinishReason replaces "stop".
	FinishReason string `json:"finishReason,omitempty"`
	// Delay holds the answer back, e.g. "2s", to exceed a timeout.
	Delay Duration `json:"delay,omitzero"`
	// Times is how many requests get it (0 means 1; negative: until the
	// answers are cleared).
	Times int `json:"times,omitempty"`

	match *regexp.Regexp
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "2s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("delay must be a duration such as 2s")
	}
	d.Duration = v
	return nil
}

func (a *Answer) text() string {
	if len(a.JSON) > 0 {
		return string(a.JSON)
	}
	return a.Content
}

// answers is the pending script, in order.
type answers struct {
	mu     sync.Mutex
	max    int
	nextID int64
	list   []Answer
}

func (q *answers) add(a Answer) (Answer, error) {
	if a.Match != "" {
		re, err := regexp.Compile(a.Match)
		if err != nil {
			return Answer{}, fmt.Errorf("match: %w", err)
		}
		a.match = re
	}
	if len(a.JSON) > 0 {
		var v any
		if err := json.Unmarshal(a.JSON, &v); err != nil {
			return Answer{}, fmt.Errorf("json: %w", err)
		}
		a.JSON, _ = json.Marshal(v)
	}
	if a.Times == 0 {
		a.Times = 1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.list) >= q.max {
		return Answer{}, errTooManyFaults{}
	}
	q.nextID++
	a.ID = q.nextID
	q.list = append(q.list, a)
	return a, nil
}

// take consumes one use of the first answer for model whose Match
// matches the last user message.
func (q *answers) take(model, last string) (Answer, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.list {
		a := &q.list[i]
		if (a.Model != "" && a.Model != model) || (a.match != nil && !a.match.MatchString(last)) {
			continue
		}
		got := *a
		if a.Times > 0 {
			a.Times--
			if a.Times == 0 {
				q.list = slices.Delete(q.list, i, i+1)
			}
		}
		return got, true
	}
	return Answer{}, false
}

func (q *answers) snapshot() []Answer {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Answer{}, q.list...)
}

func (q *answers) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = nil
}

// AddAnswer scripts an answer, as POST /sandbox/model/answers does.
func (s *Server) AddAnswer(a Answer) (Answer, error) { return s.model.answers.add(a) }

// ClearAnswers removes every scripted answer.
func (s *Server) ClearAnswers() { s.model.answers.reset() }

// serveAnswers is the /sandbox/model/answers control API.
func (s *Server) serveAnswers(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var a Answer
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {model, match, content | json | refusal, finishReason, delay, times}: " + err.Error()})
			return
		}
		added, err := s.AddAnswer(a)
		switch err.(type) {
		case nil:
			writeJSON(w, http.StatusCreated, added)
		case errTooManyFaults:
			writeJSON(w, http.StatusConflict, map[string]string{"error": "too many pending answers"})
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		}
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]Answer{"answers": s.model.answers.snapshot()})
	case http.MethodDelete:
		s.model.answers.reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

// StandIn is the stand-in's answer to a chat request: what the sandbox
// answers when nothing is scripted, for a local chat that runs a flow in
// process. messages are {role, content} pairs; schema, when not nil, is
// the JSON schema of a structured answer.
func StandIn(model string, messages [][2]string, schema json.RawMessage) string {
	req := chatRequest{Model: model}
	for _, m := range messages {
		c, _ := json.Marshal(m[1])
		req.Messages = append(req.Messages, chatMessage{Role: m[0], Content: c})
	}
	if schema != nil {
		req.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: &struct {
			Name   string          `json:"name"`
			Strict bool            `json:"strict"`
			Schema json.RawMessage `json:"schema"`
		}{Name: "answer", Strict: true, Schema: schema}}
	}
	return standInAnswer(&req, lastUserText(req.Messages))
}

// standInAnswer is the answer of the model stand-in when nothing is
// scripted: deterministic, and honouring the request's format, so a flow
// can be tried end to end without a model. Text requests get an echo of
// the last user message; structured requests get a value of the schema
// (see fromSchema).
func standInAnswer(req *chatRequest, last string) string {
	if f := req.ResponseFormat; f != nil {
		switch {
		case f.Type == "json_schema" && f.JSONSchema != nil:
			var schema map[string]any
			_ = json.Unmarshal(f.JSONSchema.Schema, &schema)
			b, _ := json.Marshal(fromSchema(schema, last, ""))
			return string(b)
		case f.Type == "json_object":
			return "{}"
		}
	}
	if strings.TrimSpace(last) == "" {
		return fmt.Sprintf("Hello! (The sandbox stands in for %s: it echoes what the contact writes.)", req.Model)
	}
	return fmt.Sprintf("You wrote: \"%s\". (The sandbox stands in for %s: a real model would answer here, following the system prompt.)",
		strings.TrimSpace(last), req.Model)
}

var (
	numberIn = regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?`)
	wordsIn  = regexp.MustCompile(`[\p{L}\p{N}]+`)
	digitsIn = regexp.MustCompile(`[0-9]+`)
	// fallbackLabels are enum values the stand-in picks when no other
	// value is named by the input.
	fallbackLabels = []string{"other", "none", "unknown", "default"}
)

// fromSchema makes a value of a (strict-mode) schema from the input text:
// an enum takes the value the input names (by its words), else one
// meaning "other", else the first; a nullable value the input does not
// give is null; a number is the first number of the input when it is in
// the schema's range; a string is the input's first run of digits when
// its name or description says it holds one (orderNumber, "4 to 10
// digits"), else the input itself; an object has its required properties.
func fromSchema(s map[string]any, input, name string) any {
	nullable := isType(s, "null")
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return pickEnum(enum, input, nullable)
	}
	switch {
	case isType(s, "object"):
		props, _ := s["properties"].(map[string]any)
		out := map[string]any{}
		req, _ := s["required"].([]any)
		for _, r := range req {
			key, _ := r.(string)
			if ps, ok := props[key].(map[string]any); ok {
				out[key] = fromSchema(ps, input, key)
			}
		}
		return out
	case isType(s, "array"):
		return []any{}
	case isType(s, "integer"), isType(s, "number"):
		if m := numberIn.FindString(input); m != "" {
			f, err := strconv.ParseFloat(m, 64)
			if err == nil && inRange(s, f) {
				if isType(s, "integer") {
					return int64(f)
				}
				return f
			}
		}
		if nullable {
			return nil
		}
		if lo, ok := s["minimum"].(float64); ok {
			return lo
		}
		return 0
	case isType(s, "boolean"):
		if nullable {
			return nil
		}
		return false
	case isType(s, "string"):
		desc, _ := s["description"].(string)
		if looksNumeric(name, desc) {
			if m := digitsIn.FindString(input); m != "" {
				return m
			}
			if nullable {
				return nil
			}
		}
		if nullable && strings.TrimSpace(input) == "" {
			return nil
		}
		return strings.TrimSpace(input)
	}
	return nil
}

// looksNumeric says whether a string property holds digits, by its name
// (orderNumber, phone, zip, ...) or its description ("4 to 10 digits").
func looksNumeric(name, description string) bool {
	n, d := strings.ToLower(name), strings.ToLower(description)
	for _, w := range []string{"number", "phone", "zip", "postcode", "code"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return strings.Contains(d, "digit")
}

// inRange says whether f is within the schema's minimum and maximum.
func inRange(s map[string]any, f float64) bool {
	if lo, ok := s["minimum"].(float64); ok && f < lo {
		return false
	}
	if hi, ok := s["maximum"].(float64); ok && f > hi {
		return false
	}
	return true
}

func pickEnum(enum []any, input string, nullable bool) any {
	words := map[string]bool{}
	for _, w := range wordsIn.FindAllString(strings.ToLower(input), -1) {
		words[w] = true
		words[strings.TrimSuffix(w, "s")] = true
	}
	for _, v := range enum {
		s, ok := v.(string)
		if !ok {
			continue
		}
		for _, w := range wordsIn.FindAllString(strings.ToLower(s), -1) {
			if words[w] {
				return s
			}
		}
	}
	for _, fb := range fallbackLabels {
		for _, v := range enum {
			if s, ok := v.(string); ok && strings.EqualFold(s, fb) {
				return s
			}
		}
	}
	if nullable {
		return nil
	}
	return enum[0]
}
