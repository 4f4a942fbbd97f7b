package flow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// compileNamed compiles a YAML spec for WhatsApp under a flow name.
func compileNamed(t testing.TB, name, src string) *Program {
	t.Helper()
	p, errs := Compile(parseSpec(t, src), Options{Channel: message.WhatsApp, FlowName: name})
	if len(errs) > 0 {
		t.Fatalf("compile %s: %v", name, errs)
	}
	return p
}

// linkNamed compiles and links flows: the first is the root.
func linkNamed(t testing.TB, flows ...[2]string) *Program {
	t.Helper()
	root := compileNamed(t, flows[0][0], flows[0][1])
	var called []*Program
	for _, f := range flows[1:] {
		called = append(called, compileNamed(t, f[0], f[1]))
	}
	p, errs := Link(root, called)
	if len(errs) > 0 {
		t.Fatalf("link: %v", errs)
	}
	return p
}

const (
	// menu asks what the contact wants and calls billing, which returns.
	flowMenu = `
trigger: {type: WhatsApp}
variables: [{name: topic, value: none}]
nodes:
- {id: start, type: Start, next: set}
- {id: set, type: SetVariables, setVariables: {variables: [{name: topic, value: billing}]}, next: call}
- id: call
  type: ForwardToFlow
  forwardToFlow:
    flowRef: {name: billing}
    return: true
    saveAs: billing
    variables: [{name: order, expr: '"A-" + vars.topic'}]
  next: thanks
- {id: thanks, type: SendMessage, sendMessage: {text: "Back in the menu ({{ vars.topic }}), amount {{ vars.billing.amount }}"}, next: end}
- {id: end, type: End}
`
	flowBilling = `
trigger: {type: Manual, inputs: [{name: order, required: true}]}
variables: [{name: amount, value: "0"}]
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "Billing for {{ trigger.order }}: how much?"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {saveAs: amount}, next: done}
- {id: done, type: End}
`
	// handover forwards to billing for good.
	flowHandover = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: go}
- {id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: billing}, variables: [{name: order, value: "B-7"}]}}
`
)

func TestForwardWithReturn(t *testing.T) {
	p := linkNamed(t, [2]string{"menu", flowMenu}, [2]string{"billing", flowBilling})
	s, fx := Step(p, nil, says("m1", "hi"), t0)
	got := strings.Join(effectLines(fx), "\n")
	for _, want := range []string{
		`log node_left @call:ForwardToFlow branch=call "to flow billing"`,
		`log node_entered @start:Start`,
		`send m1x.2 @ask`,
		`"text":"Billing for A-billing: how much?"`,
		`log node_entered @wait:WaitForReply`,
	} {
		if !strings.Contains(got, want) && !strings.Contains(got, strings.Replace(want, "m1x", s.RunID, 1)) {
			t.Errorf("effects lack %q:\n%s", want, got)
		}
	}
	if s.Flow != "billing" || len(s.Stack) != 1 || s.Stack[0].Node != "call" || s.Status != StatusWaitingReply {
		t.Fatalf("session in flow %q at %s with stack %+v, want billing waiting with the menu's call node stacked", s.Flow, s.Node, s.Stack)
	}
	if s.Vars["topic"] != nil || s.Inputs["order"] != "A-billing" {
		t.Errorf("the called flow sees vars %v and inputs %v: fresh variables and the passed input", s.Vars, s.Inputs)
	}
	roundTrip(t, s)

	s, fx = Step(p, s, says("m2", "42"), t0)
	got = strings.Join(effectLines(fx), "\n")
	for _, want := range []string{
		`log node_left @done:End branch=return "to flow menu"`,
		`log node_left @call:ForwardToFlow branch=returned`,
		`"text":"Back in the menu (billing), amount 42"`,
		`log run_ended @end:End "end"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("effects lack %q:\n%s", want, got)
		}
	}
	if s.Flow != "" || len(s.Stack) != 0 || s.Status != StatusEnded {
		t.Errorf("after the return: flow %q, stack %v, status %s", s.Flow, s.Stack, s.Status)
	}
}

func TestForwardWithoutReturn(t *testing.T) {
	p := linkNamed(t, [2]string{"handover", flowHandover}, [2]string{"billing", flowBilling})
	s, fx := Step(p, nil, says("m1", "hi"), t0)
	if got := strings.Join(effectLines(fx), "\n"); !strings.Contains(got, `branch=forward "to flow billing"`) || !strings.Contains(got, "Billing for B-7") {
		t.Fatalf("effects:\n%s", got)
	}
	if s.Flow != "billing" || len(s.Stack) != 0 {
		t.Fatalf("flow %q stack %v: the called flow took over, nothing to return to", s.Flow, s.Stack)
	}
	s, fx = Step(p, s, says("m2", "9"), t0)
	if got := strings.Join(effectLines(fx), "\n"); !strings.Contains(got, `log run_ended @done:End "end"`) {
		t.Errorf("the called flow's End ends the run:\n%s", got)
	}
	if s.Status != StatusEnded {
		t.Errorf("status %s", s.Status)
	}
	// The next message starts the executor's own flow again.
	s, fx = Step(p, s, says("m3", "again"), t0)
	if s.Flow != "billing" || !strings.Contains(strings.Join(effectLines(fx), "\n"), `log run_started "inbound"`) {
		t.Errorf("a new message starts handover again (which forwards at once): flow %q\n%s", s.Flow, effectLines(fx))
	}
}

func TestForwardAcrossRevisions(t *testing.T) {
	v1 := linkNamed(t, [2]string{"menu", flowMenu}, [2]string{"billing", flowBilling})
	s, _ := Step(v1, nil, says("m1", "hi"), t0)

	t.Run("a new revision of the called flow with the waiting node continues there", func(t *testing.T) {
		billing2 := strings.Replace(flowBilling, "how much?", "how much, please?", 1)
		billing2 = strings.Replace(billing2, "next: done}", "next: bye}\n- {id: bye, type: SendMessage, sendMessage: {text: bye}, next: done}", 1)
		p := linkNamed(t, [2]string{"menu", flowMenu}, [2]string{"billing", billing2})
		got, fx := Step(p, clone(t, s), says("m2", "5"), t0)
		lines := strings.Join(effectLines(fx), "\n")
		for _, want := range []string{`log revision_changed @wait:WaitForReply`, `"text":"bye"`, `branch=return`, `amount 5`} {
			if !strings.Contains(lines, want) {
				t.Errorf("effects lack %q:\n%s", want, lines)
			}
		}
		if got.Status != StatusEnded {
			t.Errorf("status %s", got.Status)
		}
	})
	t.Run("a new revision of the caller returns to the same node's new next", func(t *testing.T) {
		menu2 := strings.Replace(flowMenu, "next: thanks", "next: extra", 1) +
			"- {id: extra, type: SendMessage, sendMessage: {text: \"v2 {{ vars.billing.amount }}\"}, next: thanks}\n"
		p := linkNamed(t, [2]string{"menu", menu2}, [2]string{"billing", flowBilling})
		got, fx := Step(p, clone(t, s), says("m2", "7"), t0)
		lines := strings.Join(effectLines(fx), "\n")
		for _, want := range []string{`log revision_changed @call:ForwardToFlow`, `"text":"v2 7"`} {
			if !strings.Contains(lines, want) {
				t.Errorf("effects lack %q:\n%s", want, lines)
			}
		}
		if got.Status != StatusEnded || got.Flow != "" {
			t.Errorf("status %s flow %q", got.Status, got.Flow)
		}
	})
	t.Run("a caller whose call node is gone starts over", func(t *testing.T) {
		menu3 := `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "menu v3"}, next: end}
- {id: end, type: End}
`
		p := linkNamed(t, [2]string{"menu", menu3})
		got, fx := Step(p, clone(t, s), says("m2", "7"), t0)
		lines := strings.Join(effectLines(fx), "\n")
		for _, want := range []string{`which this flow no longer forwards to: restarting at Start`, `"text":"menu v3"`} {
			if !strings.Contains(lines, want) {
				t.Errorf("effects lack %q:\n%s", want, lines)
			}
		}
		if got.Flow != "" || len(got.Stack) != 0 || got.Status != StatusEnded {
			t.Errorf("flow %q stack %v status %s", got.Flow, got.Stack, got.Status)
		}
	})
	t.Run("a called flow whose waiting node is gone starts the caller over", func(t *testing.T) {
		billing4 := `
trigger: {type: Manual, inputs: [{name: order, required: true}]}
variables: [{name: amount, value: "0"}]
nodes:
- {id: start, type: Start, next: fin}
- {id: fin, type: End}
`
		p := linkNamed(t, [2]string{"menu", flowMenu}, [2]string{"billing", billing4})
		got, fx := Step(p, clone(t, s), says("m2", "7"), t0)
		lines := strings.Join(effectLines(fx), "\n")
		if !strings.Contains(lines, `node \"wait\" is gone or changed type, restarting at Start`) || !strings.Contains(lines, `Back in the menu (billing)`) {
			t.Errorf("the run starts over at the menu's Start:\n%s", lines)
		}
		if got.Status != StatusEnded {
			t.Errorf("status %s", got.Status)
		}
	})
}

// TestForwardDepthLimit chains flows that each call the next and wait for
// it: the call beyond MaxCallDepth ends the run with an error.
func TestForwardDepthLimit(t *testing.T) {
	const n = MaxCallDepth + 2
	var flows [][2]string
	for i := range n {
		src := fmt.Sprintf(`
trigger: {type: Manual}
nodes:
- {id: start, type: Start, next: call}
- {id: call, type: ForwardToFlow, forwardToFlow: {flowRef: {name: f%d}, return: true}, next: end}
- {id: end, type: End}
`, i+1)
		if i == n-1 {
			src = "trigger: {type: Manual}\nnodes:\n- {id: start, type: Start, next: end}\n- {id: end, type: End}\n"
		}
		flows = append(flows, [2]string{fmt.Sprintf("f%d", i), src})
	}
	p := linkNamed(t, flows...)
	s, fx := Step(p, nil, run("r"), t0)
	lines := strings.Join(effectLines(fx), "\n")
	if !strings.Contains(lines, fmt.Sprintf("would nest more than %d calls", MaxCallDepth)) || s.Status != StatusEnded {
		t.Fatalf("status %s, effects:\n%s", s.Status, lines)
	}
	if strings.Count(lines, "branch=call") != MaxCallDepth {
		t.Errorf("%d calls were made, want %d", strings.Count(lines, "branch=call"), MaxCallDepth)
	}

	// One level less fits: the innermost flow returns through every caller.
	p = linkNamed(t, flows[1:]...)
	s, fx = Step(p, nil, run("r"), t0)
	lines = strings.Join(effectLines(fx), "\n")
	if strings.Contains(lines, "would nest") || s.Status != StatusEnded || strings.Count(lines, "branch=returned") != MaxCallDepth {
		t.Errorf("status %s, %d returns:\n%s", s.Status, strings.Count(lines, "branch=returned"), lines)
	}
}

func TestLinkRules(t *testing.T) {
	manualIn := "trigger: {type: Manual, inputs: [{name: order, required: true}]}\nnodes:\n- {id: start, type: Start, next: end}\n- {id: end, type: End}\n"
	viber := "trigger: {type: Viber}\nnodes:\n- {id: start, type: Start, next: end}\n- {id: end, type: End}\n"
	caller := func(target, vars string) string {
		return fmt.Sprintf("trigger: {type: WhatsApp}\nnodes:\n- {id: start, type: Start, next: go}\n- {id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: %s}%s}}\n", target, vars)
	}
	loop := func(name, target string) [2]string {
		return [2]string{name, fmt.Sprintf("trigger: {type: Manual}\nnodes:\n- {id: start, type: Start, next: go}\n- {id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: %s}}}\n", target)}
	}
	cases := []struct {
		name  string
		flows [][2]string
		want  string
	}{
		{"a missing target", [][2]string{{"a", caller("b", "")}}, `spec.nodes[1].forwardToFlow.flowRef.name: Not found: "b": no ChatFlow b is available`},
		{"a target of another channel", [][2]string{{"a", caller("b", "")}, {"b", viber}},
			`ChatFlow b is triggered by Viber but would talk to the contact on WhatsApp`},
		{"an input the target does not declare", [][2]string{{"a", caller("b", `, variables: [{name: order, value: x}, {name: ordr, value: y}]`)}, {"b", manualIn}},
			`ChatFlow b declares no input "ordr": pass one of its spec.trigger.inputs (order)`},
		{"a required input not passed", [][2]string{{"a", caller("b", "")}, {"b", manualIn}},
			`ChatFlow b requires the input "order": pass it in forwardToFlow.variables`},
		{"a cycle", [][2]string{{"a", caller("b", "")}, loop("b", "c"), loop("c", "b")},
			`the flows a → b → c → b forward to each other in a cycle`},
		{"a cycle back to the root", [][2]string{{"a", caller("b", "")}, loop("b", "a")},
			`the flows a → b → a forward to each other in a cycle`},
		{"a missing flow further down", [][2]string{{"a", caller("b", "")}, loop("b", "c")},
			`ChatFlow c (reached through a → b) is not available`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := compileNamed(t, tc.flows[0][0], tc.flows[0][1])
			var called []*Program
			for _, f := range tc.flows[1:] {
				called = append(called, compileNamed(t, f[0], f[1]))
			}
			p, errs := Link(root, called)
			if p != nil || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Errorf("link: %v; want an error containing %q", errs, tc.want)
			}
		})
	}
}

func TestCompileForwardRules(t *testing.T) {
	cases := []struct{ name, node, want string }{
		{"next without return", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: b}}, next: end}`,
			`spec.nodes[1].next: Forbidden: without return the called flow takes the contact over`},
		{"return without next", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: b}, return: true}}`,
			`spec.nodes[1].next: Required value: a ForwardToFlow node with return needs next`},
		{"saveAs without return", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: b}, saveAs: x}}`,
			`spec.nodes[1].forwardToFlow.saveAs: Forbidden: saveAs keeps the called flow's variables when it returns`},
		{"itself", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: test}}}`,
			`a flow cannot forward to itself`},
		{"a bad name", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: "Bad_Name"}}}`,
			`spec.nodes[1].forwardToFlow.flowRef.name: Invalid value: "Bad_Name": must be the name of a ChatFlow`},
		{"a variable twice", `{id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: b}, variables: [{name: x, value: "1"}, {name: x, value: "2"}]}}`,
			`spec.nodes[1].forwardToFlow.variables[1].name: Duplicate value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "trigger: {type: WhatsApp}\nnodes:\n- {id: start, type: Start, next: go}\n- " + tc.node + "\n- {id: end, type: End}\n"
			_, errs := Compile(parseSpec(t, src), Options{Channel: message.WhatsApp, FlowName: "test"})
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Errorf("errors: %v\nwant one containing %q", errs, tc.want)
			}
		})
	}
	// A flow that only routes contacts to other flows needs no End.
	router := "trigger: {type: WhatsApp}\nnodes:\n- {id: start, type: Start, next: go}\n- {id: go, type: ForwardToFlow, forwardToFlow: {flowRef: {name: b}}}\n"
	if _, errs := Compile(parseSpec(t, router), Options{Channel: message.WhatsApp, FlowName: "test"}); len(errs) > 0 {
		t.Errorf("a router flow: %v", errs)
	}
}

// TestForwardUnlinked: a program that was not linked ends a run that
// reaches a ForwardToFlow with an error instead of guessing.
func TestForwardUnlinked(t *testing.T) {
	p := compileNamed(t, "handover", flowHandover)
	s, fx := Step(p, nil, says("m1", "hi"), t0)
	if lines := strings.Join(effectLines(fx), "\n"); !strings.Contains(lines, "ChatFlow billing is not available to this flow's executor") || s.Status != StatusEnded {
		t.Errorf("status %s:\n%s", s.Status, lines)
	}
	if got := p.Calls(); len(got) != 1 || got[0] != "billing" {
		t.Errorf("Calls() = %v", got)
	}
}

func clone(t *testing.T, s *Session) *Session {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out Session
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// FuzzLink: any two specs that compile link, or refuse to, without
// panicking; a linked program runs its first turns, whatever the stack and
// revision it meets.
func FuzzLink(f *testing.F) {
	f.Add([]byte(flowMenu), []byte(flowBilling))
	f.Add([]byte(flowHandover), []byte(flowBilling))
	f.Add([]byte(flowBilling), []byte(flowMenu))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		specA, specB := fuzzSpec(a), fuzzSpec(b)
		if specA == nil || specB == nil {
			return
		}
		root, errs := Compile(specA, Options{Channel: message.WhatsApp, FlowName: "menu"})
		if len(errs) > 0 {
			return
		}
		called, errs := Compile(specB, Options{Channel: message.WhatsApp, FlowName: "billing"})
		if len(errs) > 0 {
			return
		}
		p, lerrs := Link(root, []*Program{called})
		if p == nil {
			if len(lerrs) == 0 {
				t.Fatal("no program and no errors")
			}
			p = root // an unlinked program must not panic either
		}
		s, _ := Step(p, nil, RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"order": "1"}}.Event(), t0)
		s, _ = Step(p, s, says("m1", "hello"), t0)
		s, _ = Step(p, s, says("m2", "42"), t0)
		roundTrip(t, s)
	})
}

func fuzzSpec(data []byte) *v1alpha1.ChatFlowSpec {
	var spec v1alpha1.ChatFlowSpec
	if json.Unmarshal(data, &spec) == nil {
		return &spec
	}
	spec = v1alpha1.ChatFlowSpec{}
	if yaml.Unmarshal(data, &spec) != nil {
		return nil
	}
	return &spec
}

// TestForwardBudgets: what a forward passes is held to the session budgets
// like any variable, and the callers waiting on the stack count in the
// session's size: a forward that would exceed either ends the run with an
// error naming the budget, before the contact leaves the caller.
func TestForwardBudgets(t *testing.T) {
	const caller = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: w1}
- {id: w1, type: WaitForReply, waitForReply: {saveAs: a}, next: w2}
- {id: w2, type: WaitForReply, waitForReply: {saveAs: b}, next: w3}
- {id: w3, type: WaitForReply, waitForReply: {saveAs: c}, next: w4}
- {id: w4, type: WaitForReply, waitForReply: {saveAs: d}, next: pick}
- {id: pick, type: Condition, condition: {branches: [{when: 'vars.d == "double"', next: double}], default: call}}
- {id: double, type: ForwardToFlow, forwardToFlow: {flowRef: {name: billing}, return: true, variables: [{name: order, expr: 'vars.a + vars.a'}]}, next: end}
- {id: call, type: ForwardToFlow, forwardToFlow: {flowRef: {name: billing}, return: true, variables: [{name: order, expr: 'vars.a'}]}, next: end}
- {id: end, type: End}
`
	p := linkNamed(t, [2]string{"menu", caller}, [2]string{"billing", flowBilling})
	fits := strings.Repeat("y", 45<<10)
	reply := func(s *Session, id, text string) (*Session, []Effect) {
		return Step(p, s, Inbound(message.Inbound{ID: id, Contact: ann, Kind: message.KindText, Text: text, Timestamp: t0}), t0)
	}
	fill := func(last string) (*Session, []Effect) {
		s, _ := Step(p, nil, says("m0", "hi"), t0)
		var fx []Effect
		for i, v := range []string{fits, fits, fits, last} {
			s, fx = reply(s, fmt.Sprintf("m%d", i+1), v)
		}
		return s, fx
	}

	// vars.a twice is over MaxVariableBytes.
	s, fx := fill("double")
	got := strings.Join(effectLines(fx), "\n")
	if !strings.Contains(got, `@double:ForwardToFlow budget=variable_size "the variable order passed to billing`) ||
		!strings.Contains(got, `log run_ended @double:ForwardToFlow "error"`) {
		t.Errorf("passing a variable over the limit:\n%s", got)
	}
	if s.Flow != "" || len(s.Stack) != 0 || s.Status != StatusEnded {
		t.Errorf("after the refused forward: flow %q, stack %d, status %s", s.Flow, len(s.Stack), s.Status)
	}

	// Three 45 KiB variables stay in the caller's frame; the called flow
	// would hold the fourth as its variable and its input: over 256 KiB.
	s, fx = fill(fits)
	got = strings.Join(effectLines(fx), "\n")
	if !strings.Contains(got, `@call:ForwardToFlow budget=session_size "forwarding to billing would make the session`) {
		t.Errorf("a forward over the session budget:\n%s", got)
	}
	if s.Flow != "" || s.Status != StatusEnded {
		t.Errorf("after the refused forward: flow %q, status %s", s.Flow, s.Status)
	}

	// The frames count: a session in a called flow, whose caller keeps
	// large variables, is sized with them.
	in := &Session{Vars: Values{"x": "1"}, Stack: []Frame{{Vars: Values{"big": fits}}}}
	if n := in.sizeForTest(); n < len(fits) {
		t.Errorf("a session whose caller holds %d bytes is sized %d", len(fits), n)
	}
}

// A linked root's executor runs the flows it forwards to, so the models
// it must be configured with are theirs too.
func TestLinkedRootNeedsTheCalledFlowsModels(t *testing.T) {
	const withAI = `
trigger: {type: Manual, inputs: [{name: order}]}
nodes:
- {id: start, type: Start, next: answer}
- {id: answer, type: AIReply, aiReply: {model: billing-llm, systemPrompt: "You answer billing questions."}, next: done}
- {id: done, type: End}
`
	p := linkNamed(t, [2]string{"handover", flowHandover}, [2]string{"billing", withAI})
	if got := p.Models(); !slices.Equal(got, []string{"billing-llm"}) {
		t.Errorf("the linked root's models: %v, want the called flow's billing-llm", got)
	}
	alone := compileNamed(t, "handover", flowHandover)
	if got := alone.Models(); len(got) != 0 {
		t.Errorf("an unlinked program's models: %v, want its own (none)", got)
	}
}
