package flow

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

const flowSaves = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: w1}
- {id: w1, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: a}, next: w2}
- {id: w2, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: b}, next: w3}
- {id: w3, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: c}, next: w4}
- {id: w4, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: d}, next: w5}
- {id: w5, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: e}, next: end}
- {id: end, type: End}
`

// TestStepBudgets: a value over MaxVariableBytes, or one that would take
// the session over MaxSessionBytes, is not stored: the node takes onError,
// or the run ends with an error that names the budget.
func TestStepBudgets(t *testing.T) {
	big := strings.Repeat("x", MaxVariableBytes) // +2 for the quotes: just over
	fits := strings.Repeat("y", 45<<10)          // four variables and the last message fit, five do not
	reply := func(id, text string) Event {
		return Inbound(message.Inbound{ID: id, Contact: ann, Kind: message.KindText, Text: text, Timestamp: t0})
	}
	runStepCases(t, []stepCase{
		{name: "an HTTP response too large for its variable takes onError", flow: flowHTTP, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Status: 200, ContentType: "text/plain", Body: []byte(big)}.Event(),
			want: []string{
				fmt.Sprintf(`log error @call:HTTPRequest budget=variable_size "vars.res would hold %d bytes, over the limit of %d per variable: not set"`, valueSize(responseValue(&HTTPResult{Status: 200, ContentType: "text/plain", Body: []byte(big)})), MaxVariableBytes),
				`log node_left @call:HTTPRequest branch=error`,
				`log node_entered @failed:End`,
				`log run_ended @failed:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "failed", vars: `{"id":"A 1"}`}},
		{name: "without onError the run ends", flow: flowHTTPNoOnError, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Status: 200, Body: []byte(big)}.Event(),
			want: []string{
				fmt.Sprintf(`log error @call:HTTPRequest budget=variable_size "vars.res would hold %d bytes, over the limit of %d per variable: not set"`, valueSize(responseValue(&HTTPResult{Status: 200, Body: []byte(big)})), MaxVariableBytes),
				`log run_ended @call:HTTPRequest "error"`,
			}, session: sessionWant{status: StatusEnded, node: "call"}},
	})

	// A reply too large for its variable ends the run (WaitForReply has no
	// onError).
	p := mustCompile(t, flowSaves)
	s, _ := Step(p, nil, says("m0", "hi"), t0)
	s, fx := Step(p, s, reply("m1", big), t0)
	want := []string{
		"cancelTimer " + s.RunID + ".2",
		fmt.Sprintf(`log error @w1:WaitForReply budget=variable_size "vars.a would hold %d bytes, over the limit of %d per variable: not set"`, len(big)+2, MaxVariableBytes),
		`log run_ended @w1:WaitForReply "error"`,
	}
	if got := effectLines(fx); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("a reply too large for its variable:\n%s\nwant:\n%s", quoteAll(got), quoteAll(want))
	}
	if _, ok := s.Vars["a"]; ok || s.Status != StatusEnded {
		t.Errorf("after a reply too large: vars %v, status %s", len(s.Vars), s.Status)
	}

	// Replies that fit one by one, until the session is full.
	s, _ = Step(p, nil, says("m0", "hi"), t0)
	for i := range 5 {
		s, fx = Step(p, s, reply(fmt.Sprintf("m%d", i+1), fits), t0)
	}
	got := strings.Join(effectLines(fx), "\n")
	if !strings.Contains(got, `budget=session_size "setting vars.e`) || !strings.Contains(got, `log run_ended @w5:WaitForReply "error"`) {
		t.Errorf("the fifth large reply:\n%s\nwant a session_size error ending the run", got)
	}
	if _, ok := s.Vars["e"]; ok || len(s.Vars) != 4 {
		t.Errorf("%d vars after the session filled up, want a to d only", len(s.Vars))
	}
	if n := s.sizeForTest(); n > MaxSessionBytes {
		t.Errorf("the session holds about %d bytes, over MaxSessionBytes", n)
	}

	// A Manual run whose inputs alone are too large is refused.
	pm := mustCompile(t, `
trigger: {type: Manual, inputs: [{name: blob}]}
nodes:
- {id: start, type: Start, next: end}
- {id: end, type: End}
`)
	s, fx = Step(pm, nil, RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"blob": strings.Repeat("z", MaxSessionBytes)}}.Event(), t0)
	if s != nil || len(fx) != 1 || fx[0].Log.Budget != BudgetSessionSize || !strings.HasPrefix(fx[0].Log.Message, "run rejected") {
		t.Errorf("a run with oversized inputs: session %v, effects %q", s, effectLines(fx))
	}
}

// sizeForTest is the session's size estimate.
func (s *Session) sizeForTest() int { return (&turn{s: s}).sessionSize("") }
