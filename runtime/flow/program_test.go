package flow

import (
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestProgramAccessors(t *testing.T) {
	p, errs := Compile(parseSpec(t, flowManual), Options{Channel: message.WhatsApp, FlowName: "reminder"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if p.Name() != "reminder" || p.Channel() != message.WhatsApp || p.Trigger() != "Manual" || p.Len() != 4 {
		t.Errorf("program: %s %s %s %d", p.Name(), p.Channel(), p.Trigger(), p.Len())
	}
	if in := p.Inputs(); len(in) != 2 || in[0] != (Input{Name: "orderId", Required: true}) || in[1] != (Input{Name: "lang"}) {
		t.Errorf("inputs %v", in)
	}
	if v := p.Variables(); len(v) != 1 || v[0].Name != "lang" || v[0].Value != "en" {
		t.Errorf("variables %v", v)
	}
	if typ, ok := p.NodeType("wait"); !ok || typ != "WaitForReply" {
		t.Errorf("NodeType(wait) = %s %v", typ, ok)
	}
	if _, ok := p.NodeType("nope"); ok {
		t.Error("NodeType(nope) found")
	}
	// Copies: callers cannot change the program.
	p.Inputs()[0].Name = "x"
	p.Canonical()[0] = 'x'
	if p.Inputs()[0].Name != "orderId" || p.Canonical()[0] != '{' {
		t.Error("accessors return shared data")
	}
	if ChannelOf(parseSpec(t, flowManual)) != "" || ChannelOf(parseSpec(t, flowSend)) != message.WhatsApp || ChannelOf(nil) != "" {
		t.Error("ChannelOf")
	}
}

func TestSentIsBounded(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "again?"}, next: again}
- {id: again, type: Jump, jump: {target: ask, maxJumps: 30}, next: end}
- {id: end, type: End}
`)
	s, fx := Step(p, nil, run("r"), t0)
	sends := 0
	for _, e := range fx {
		if e.Kind == EffectSend {
			sends++
		}
	}
	if sends != 31 || len(s.Sent) != MaxSent || s.Sent[MaxSent-1].EffectID != "r.31" || s.Sent[0].EffectID != "r.16" {
		t.Errorf("%d sends, sent %v", sends, s.Sent)
	}
}

func TestAppendQuery(t *testing.T) {
	for _, tc := range [][3]string{
		{"https://x/a", "q=1", "https://x/a?q=1"},
		{"https://x/a?", "q=1", "https://x/a?q=1"},
		{"https://x/a?b=2", "q=1", "https://x/a?b=2&q=1"},
		{"https://x/a?b=2&", "q=1", "https://x/a?b=2&q=1"},
		{"https://x/a#frag", "q=1", "https://x/a?q=1#frag"},
	} {
		if got := appendQuery(tc[0], tc[1]); got != tc[2] {
			t.Errorf("appendQuery(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestCompileTypeRequired(t *testing.T) {
	runCompileCases(t, []compileCase{
		{name: "type required", spec: flowOf(okNodes + "- {id: x}\n"), want: []string{
			`spec.nodes[3].type: Required value: set the node type: one of Start, End, SendMessage, WaitForReply, Condition, SetVariables, HTTPRequest, Delay, Jump, Handoff, AIReply, AIClassify, AIExtract, ForwardToFlow`,
		}},
		{name: "suggests a normalized id", spec: flowOf(`
- {id: start, type: Start, next: Ask_Name}
- {id: ask-name, type: SendMessage, sendMessage: {text: "Hi"}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[0].next: Not found: "Ask_Name": no node has id "Ask_Name"; did you mean "ask-name"?`,
		}},
	})
}

// TestProgramConcurrentUse: one Program serves many sessions at once (run
// with -race).
func TestProgramConcurrentUse(t *testing.T) {
	p := mustCompile(t, flowTurn)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			s, _ := Step(p, nil, run("r"), t0)
			for i := 0; i < 50; i++ {
				s, _ = Step(p, s, says("m", "order 1"), t0)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
