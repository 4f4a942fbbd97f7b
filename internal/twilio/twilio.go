// Package twilio translates Twilio Studio flow definitions (the Flow
// Definition JSON of the Studio REST API v2, or a Flow resource that
// carries one) into ChatFlows: `chatflow import --from twilio-studio`.
//
// Translated widgets: trigger (its messaging entry, or its REST entry for
// a Manual flow); send-message; send-and-wait-for-reply (a SendMessage and
// a WaitForReply with the widget's timeout); split-based-on with the
// condition types equal_to, not_equal_to, matches_any_of,
// does_not_match_any_of, contains, does_not_contain, starts_with,
// does_not_start_with, regex, is_blank, is_not_blank, greater_than and
// less_than (case-insensitive on trimmed values, as Studio compares);
// set-variables; make-http-request; run-function (an HTTPRequest POST to
// the function's URL); send-to-flex (a Handoff). Liquid references
// ({{widgets.ask.inbound.Body}}, {{flow.variables.x}}, {{trigger.message.Body}},
// {{flow.data.x}}, ...) and the filters upcase, downcase, strip, size and
// default become CEL.
//
// What cannot be translated is reported by state name and type, never
// dropped in silence: voice widgets (say-play, gather-input-on-call, ...),
// run-subflow, add-twiml-redirect and unknown types become End nodes (the
// chat flow ends where the call flow would go on), and partial
// translations (a dropped filter, a Liquid tag, Twilio auth on a request)
// are listed as approximations. Only what the chosen trigger entry
// reaches through translated links is imported: widgets left on the
// canvas, paths only the voice entry enters and widgets reached only
// through a transition that has no equivalent (a voice widget's, a failed
// Flex hand-off's) are left out and listed with the reason. Loops that
// never wait for the contact, which Studio stops after 10 repeats, get a
// Jump with maxJumps 10. A definition whose translation still breaks a
// flow rule (every transition leads back into the flow, so it never ends)
// is refused with a Refusal that names the widgets.
//
// It imports the API types and runtime/flow (to check the result); it
// does no I/O.
package twilio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// definition is a Studio Flow Definition.
type definition struct {
	Schema       string         `json:"$schema"`
	Description  string         `json:"description"`
	InitialState string         `json:"initial_state"`
	Flags        map[string]any `json:"flags"`
	States       []state        `json:"states"`
}

type state struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Transitions []transition   `json:"transitions"`
	Properties  map[string]any `json:"properties"`
}

type transition struct {
	Event      string      `json:"event"`
	Next       *string     `json:"next"`
	Conditions []condition `json:"conditions"`
	UUID       string      `json:"uuid"`
}

type condition struct {
	FriendlyName string   `json:"friendly_name"`
	Arguments    []string `json:"arguments"`
	Type         string   `json:"type"`
	Value        any      `json:"value"`
}

// parse reads a definition, or a Flow resource with a definition (the
// shape of GET /v2/Flows/{sid}), whose friendly_name is returned.
func parse(data []byte) (*definition, string, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", fmt.Errorf("not a Studio flow definition: %w", err)
	}
	friendly := ""
	if raw, ok := probe["definition"]; ok {
		_ = json.Unmarshal(probe["friendly_name"], &friendly)
		if len(raw) > 0 && raw[0] == '"' {
			// Some tools store the definition as a JSON string.
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, "", err
			}
			raw = json.RawMessage(s)
		}
		data = raw
	}
	var d definition
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, "", fmt.Errorf("not a Studio flow definition: %w", err)
	}
	if len(d.States) == 0 {
		return nil, "", fmt.Errorf("not a Studio flow definition: it has no states")
	}
	if d.InitialState == "" {
		return nil, "", fmt.Errorf("the flow definition has no initial_state")
	}
	seen := map[string]bool{}
	for i, s := range d.States {
		if s.Name == "" {
			return nil, "", fmt.Errorf("states[%d] has no name", i)
		}
		if s.Type == "" {
			return nil, "", fmt.Errorf("the state %q has no type", s.Name)
		}
		if seen[s.Name] {
			return nil, "", fmt.Errorf("two states are named %q", s.Name)
		}
		seen[s.Name] = true
	}
	return &d, friendly, nil
}

// next returns the target of a transition event, "" when there is none
// (the execution ends).
func (s *state) next(event string) string {
	for _, t := range s.Transitions {
		if t.Event == event && t.Next != nil {
			return *t.Next
		}
	}
	return ""
}

// prop returns a property as text: strings as they are, numbers and bools
// in their JSON spelling.
func (s *state) prop(key string) string {
	switch v := s.Properties[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// keyValues returns a property holding [{key, value}] (parameters,
// variables).
func (s *state) keyValues(key string) [][2]string {
	list, _ := s.Properties[key].([]any)
	var out [][2]string
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m == nil {
			continue
		}
		k, _ := m["key"].(string)
		var v string
		switch x := m["value"].(type) {
		case string:
			v = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
