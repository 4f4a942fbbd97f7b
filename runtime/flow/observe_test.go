package flow

import (
	"slices"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// checkObservable holds every log event the interpreter emits to what the
// metrics expect of it: a node_left's branch is one of its node's Exits,
// and an error or message_failed carries a reason of the closed set (and
// nothing else does). The step cases and the golden transcripts call it on
// every log they produce.
func checkObservable(t *testing.T, p *Program, l *Log) {
	t.Helper()
	switch l.Event {
	case LogNodeLeft:
		for _, n := range p.Nodes() {
			if n.ID == l.NodeID && !slices.Contains(n.Exits, l.Branch) {
				t.Errorf("node_left @%s branch=%s: not among the node's Exits %v", l.NodeID, l.Branch, n.Exits)
			}
		}
	case LogError, LogMessageFailed:
		if !slices.Contains(Reasons, l.Reason) {
			t.Errorf("%s @%s %q: reason %q is not one of %v", l.Event, l.NodeID, l.Message, l.Reason, Reasons)
		}
		return
	}
	if l.Reason != "" {
		t.Errorf("%s @%s carries reason %q: only errors do", l.Event, l.NodeID, l.Reason)
	}
}

// Each way a node fails is classed, from the events a turn produces.
func TestErrorReasons(t *testing.T) {
	const flowMixed = `
trigger: {type: Manual, inputs: [{name: id, required: true}]}
variables: [{name: n, value: "1"}]
nodes:
- {id: start, type: Start, next: cond}
- id: cond
  type: Condition
  condition: {branches: [{name: big, when: 'int(vars.n) / 0 > 1', next: set}], default: set}
- id: set
  type: SetVariables
  setVariables: {variables: [{name: a, expr: 'vars.missing.x'}, {name: b, value: "{{ vars.missing.y }}"}]}
  next: call
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/{{ trigger.id }}"}, next: say, onError: say}
- {id: say, type: SendMessage, sendMessage: {text: "hi"}, next: end, onError: end}
- {id: end, type: End}
`
	p := mustCompile(t, flowMixed)
	reasons := func(fx []Effect) []string {
		var out []string
		for _, e := range fx {
			if e.Kind == EffectLog {
				checkObservable(t, p, &e.Log)
				if e.Log.Reason != "" {
					out = append(out, e.Log.NodeID+":"+string(e.Log.Reason))
				}
			}
		}
		return out
	}
	// A run without its required input: rejected, of no node.
	_, fx := Step(p, nil, RunStarted{RunID: "r0", Contact: ann}.Event(), t0)
	if got := reasons(fx); !slices.Equal(got, []string{":input"}) {
		t.Errorf("a run without its input: %v", got)
	}
	s, fx := Step(p, nil, RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"id": "7"}}.Event(), t0)
	if got, want := reasons(fx), []string{"cond:expression", "set:expression", "set:render"}; !slices.Equal(got, want) {
		t.Errorf("the first turn: %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		res  HTTPResult
		want string
	}{
		{"a status outside 2xx", HTTPResult{Status: 503}, "call:http_error"},
		{"no response", HTTPResult{Err: "request failed: connection refused"}, "call:http_error"},
		{"a timeout", HTTPResult{Err: "timeout after 10s", Reason: ReasonTimeout}, "call:timeout"},
	} {
		s2 := cloneSession(t, s)
		tc.res.EffectID = s2.Wait.EffectID
		_, fx := Step(p, s2, tc.res.Event(), t0)
		if got := reasons(fx); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
	s, _ = Step(p, s, HTTPResult{EffectID: s.Wait.EffectID, Status: 200}.Event(), t0)
	_, fx = Step(p, s, SendResult{EffectID: s.Wait.EffectID, Error: &message.SendError{Class: message.Permanent, Message: "no"}}.Event(), t0)
	if got := reasons(fx); !slices.Equal(got, []string{"say:send_refused"}) {
		t.Errorf("a refused send: %v", got)
	}

	// A message template that fails to render.
	p2 := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: say}
- {id: say, type: SendMessage, sendMessage: {text: "{{ vars.nope.x }}"}, next: end}
- {id: end, type: End}
`)
	_, fx = Step(p2, nil, says("m1", "hi"), t0)
	var got []Reason
	for _, e := range fx {
		if e.Kind == EffectLog && e.Log.Reason != "" {
			got = append(got, e.Log.Reason)
		}
	}
	if !slices.Equal(got, []Reason{ReasonRender}) {
		t.Errorf("a message that does not render: %v", got)
	}
}

func cloneSession(t *testing.T, s *Session) *Session {
	t.Helper()
	c := *s
	c.Vars = Values{}
	for k, v := range s.Vars {
		c.Vars[k] = v
	}
	c.effects = nil
	return &c
}

func TestNodesDescribeTheirExits(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "?"}, next: wait, onError: end}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1m}, next: route}
- id: route
  type: Condition
  condition: {branches: [{name: ok, when: 'message.text == "y"', next: end}, {when: 'true', next: end}], default: end}
- {id: end, type: End}
`)
	got := map[string]string{}
	for _, n := range p.Nodes() {
		got[n.ID] = string(n.Type) + " " + strings.Join(n.Exits, ",")
	}
	want := map[string]string{
		"start": "Start next",
		"ask":   "SendMessage next,sent,error",
		"wait":  "WaitForReply replied,timeout,send_failed",
		"route": "Condition ok,branches[1],default",
		"end":   "End return", // when another flow called this one
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("nodes: %v", got)
	}
}

const flowSensitive = `
trigger: {type: Manual, inputs: [{name: token, sensitive: true}, {name: name}]}
variables: [{name: pin, sensitive: true}, {name: greeting, value: "hi"}]
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: WaitForReply, waitForReply: {saveAs: birthday, sensitive: true}, next: call}
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/", saveAs: profile, sensitive: true}, next: plain, onError: plain}
- {id: plain, type: HTTPRequest, httpRequest: {url: "https://api.example.com/", saveAs: order}, next: end, onError: end}
- {id: end, type: End}
`

func TestSensitiveVariables(t *testing.T) {
	p := mustCompile(t, flowSensitive)
	for name, want := range map[string]bool{"token": true, "pin": true, "birthday": true, "profile": true,
		"name": false, "greeting": false, "order": false} {
		if got := p.Sensitive(name); got != want {
			t.Errorf("Sensitive(%q) = %v, want %v", name, got, want)
		}
	}
	if !p.SensitiveReplies() {
		t.Error("a WaitForReply saves its reply as sensitive, but SensitiveReplies is false")
	}
	if p2 := mustCompile(t, flowWait); p2.SensitiveReplies() || p2.Sensitive("answer") {
		t.Error("a flow that marks nothing has sensitive values")
	}

	// Marking a value sensitive is part of what runs: a new revision.
	plain := mustCompile(t, strings.ReplaceAll(flowSensitive, "sensitive: true", "sensitive: false"))
	if plain.Revision() == p.Revision() {
		t.Error("marking values sensitive did not change the revision")
	}

	// sensitive on a node that saves nothing says what to do.
	_, errs := Compile(parseSpec(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: WaitForReply, waitForReply: {sensitive: true}, next: end}
- {id: end, type: End}
`), Options{Channel: message.WhatsApp})
	if len(errs) != 1 || errs[0].Field != "spec.nodes[1].waitForReply.sensitive" || !strings.Contains(errs[0].Detail, "set saveAs") {
		t.Errorf("sensitive without saveAs: %v", errs)
	}
}

// The reason classes are what the metrics and docs list.
func TestReasonsAreClosed(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if seen[r] || r == "" || strings.ToLower(string(r)) != string(r) {
			t.Errorf("reason %q: duplicate, empty or not lower case", r)
		}
		seen[r] = true
	}
}
