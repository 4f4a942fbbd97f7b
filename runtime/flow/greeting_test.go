package flow

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

const flowGreeting = `
trigger: {type: WhatsApp}
variables: [{name: shop, value: "Corner Shop"}]
nodes:
- {id: start, type: Start, next: hello}
- id: hello
  type: SendMessage
  sendMessage:
    text: "Hi {{ contact.name }}, welcome to {{ vars.shop }} ({{ flow.name }})"
    buttons: [{id: order, title: "Orders for {{ contact.id }}"}, {id: help, title: Help}]
  next: wait
- {id: wait, type: WaitForReply, waitForReply: {saveAs: answer}, next: end}
- {id: end, type: End}
`

// The greeting is rendered by the node's own code with the scope a new run
// starts with: it equals the first send of a run started for the contact.
func TestGreetingIsTheFirstSendOfARun(t *testing.T) {
	p := mustCompile(t, flowGreeting)
	g, ok := p.Greeting(ann)
	if !ok {
		t.Fatal("the flow has a greeting that reads only contact, vars and flow, but Greeting says none")
	}
	if g.NodeID != "hello" || p.GreetingNode() != "hello" {
		t.Errorf("greeting node %q / %q, want hello", g.NodeID, p.GreetingNode())
	}
	_, fx := Step(p, nil, run("r1"), t0)
	var first *Send
	for i := range fx {
		if fx[i].Kind == EffectSend {
			first = &fx[i].Send
			break
		}
	}
	if first == nil {
		t.Fatal("the run sent nothing")
	}
	if !reflect.DeepEqual(g.Message, first.Message) {
		t.Errorf("greeting %+v\nfirst send %+v", g.Message, first.Message)
	}
	if g.Message.Text != "Hi Ann, welcome to Corner Shop (test)" || g.Message.Buttons[0].Title != "Orders for 15550001111" {
		t.Errorf("greeting rendered as %+v", g.Message)
	}
	other := message.Contact{ID: "15550002222", Name: "Bo", Channel: message.WhatsApp}
	if g2, _ := p.Greeting(other); g2.Message.Text != "Hi Bo, welcome to Corner Shop (test)" || g2.Message.To != other {
		t.Errorf("greeting for another contact: %+v", g2.Message)
	}
}

// A flow has no greeting when Start does not lead to a SendMessage, or when
// the message reads what a conversation that just opened does not have.
func TestNoGreetingWhenTheMessageNeedsARun(t *testing.T) {
	for name, replace := range map[string][2]string{
		"message text":      {"welcome to {{ vars.shop }}", "you said {{ message.text }}"},
		"clock":             {"welcome to {{ vars.shop }}", "it is {{ now }}"},
		"trigger input":     {"welcome to {{ vars.shop }}", "welcome {{ trigger.?who.orValue('') }}"},
		"button title":      {"Orders for {{ contact.id }}", "{{ message.buttonId }}"},
		"a node before it":  {"next: hello}", "next: first}\n- {id: first, type: SetVariables, setVariables: {variables: [{name: x, value: '1'}]}, next: hello}"},
		"hidden in a macro": {"welcome to {{ vars.shop }}", "{{ [1].exists(x, message.type == 'text') }}"},
	} {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(flowGreeting, replace[0], replace[1], 1)
			if src == flowGreeting {
				t.Fatalf("%q is not in the flow", replace[0])
			}
			p := mustCompile(t, src)
			if g, ok := p.Greeting(ann); ok || p.GreetingNode() != "" {
				t.Errorf("want no greeting, got %+v (node %q)", g, p.GreetingNode())
			}
		})
	}
}

// A greeting that fails to render (here a variable that does not exist)
// is no greeting: the run renders it and takes its course.
func TestGreetingThatDoesNotRender(t *testing.T) {
	p := mustCompile(t, strings.Replace(flowGreeting, "{{ vars.shop }}", "{{ vars.missing.name }}", 1))
	if p.GreetingNode() != "hello" {
		t.Fatalf("greeting node %q, want hello (it reads only vars)", p.GreetingNode())
	}
	if g, ok := p.Greeting(ann); ok {
		t.Errorf("a greeting that fails to render was returned: %+v", g)
	}
}
