package chat

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

const localFlow = `
trigger: {type: %s}
nodes:
- {id: start, type: Start, next: ask}
- id: ask
  type: SendMessage
  sendMessage: {text: "Coffee or tea?", buttons: [{id: coffee, title: Coffee}, {id: tea, title: Tea}]}
  next: wait
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: route, onTimeout: late}
- id: route
  type: Condition
  condition:
    branches:
    - {when: 'message.buttonId == "tea"', next: lookup}
    default: human
- {id: lookup, type: HTTPRequest, httpRequest: {url: "https://tea.example.com/kinds", saveAs: kinds}, next: tea, onError: sorry}
- {id: tea, type: SendMessage, sendMessage: {text: "We have {{ vars.kinds.body.kinds.join(', ') }}."}, next: end}
- {id: sorry, type: SendMessage, sendMessage: {text: "No tea today."}, next: end}
- {id: human, type: Handoff, handoff: {queue: baristas}, next: back}
- {id: back, type: SendMessage, sendMessage: {text: "Back: you wrote {{ message.text }}"}, next: end}
- {id: late, type: SendMessage, sendMessage: {text: "Too slow!"}, next: end}
- {id: end, type: End}
`

func compileLocal(t *testing.T, ch message.Channel, src string) *flow.Program {
	t.Helper()
	var spec v1alpha1.ChatFlowSpec
	if err := yaml.UnmarshalStrict([]byte(strings.Replace(src, "%s", string(ch), 1)), &spec); err != nil {
		t.Fatal(err)
	}
	if ch == message.Instagram { // no reply buttons there
		spec.Nodes[1].SendMessage.QuickReplies, spec.Nodes[1].SendMessage.Buttons = spec.Nodes[1].SendMessage.Buttons, nil
	}
	p, errs := flow.Compile(&spec, flow.Options{Channel: ch, FlowName: "drinks"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return p
}

// stubs answer every call of a node with its response.
type stubs map[string]flow.HTTPResult

func (s stubs) Respond(c flow.HTTPCall) (flow.HTTPResult, error) {
	r, ok := s[c.NodeID]
	if !ok {
		return flow.HTTPResult{EffectID: c.ID, Err: "no stub"}, fmt.Errorf("no stub for %s", c.NodeID)
	}
	r.EffectID = c.ID
	return r, nil
}

func chatLocally(t *testing.T, ch message.Channel, stubs Responder, lines ...string) string {
	t.Helper()
	var out bytes.Buffer
	err := StartLocal(context.Background(), LocalConfig{
		Program: compileLocal(t, ch, localFlow), Name: "drinks",
		Account:   Account{Channel: ch, ID: account, Phone: "+15550001111", SenderName: "Cafe"},
		ContactID: who.ID, ContactName: who.Name, Stubs: stubs,
		In: strings.NewReader(strings.Join(lines, "\n") + "\n"), Out: &out, Echo: true,
		Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// A tap by number goes through the channel's wire format both ways: the
// rendered keyboard (Viber, with its tracking data), the quick reply or
// reply button, and the webhook the channel would post, read by its parser.
func TestLocalChatTapsAsTheChannelDoes(t *testing.T) {
	stubs := stubs{"lookup": {Status: 200, ContentType: "application/json", Body: []byte(`{"kinds": ["green", "black"]}`)}}
	for _, ch := range []message.Channel{message.WhatsApp, message.Messenger, message.Instagram, message.Viber} {
		t.Run(string(ch), func(t *testing.T) {
			got := chatLocally(t, ch, stubs, "hi", "2")
			for _, want := range []string{
				"bot> Coffee or tea?\n     1) Coffee\n     2) Tea\n",
				"you> 2\n  (GET https://tea.example.com/kinds → stubbed 200)\nbot> We have green, black.\n",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("the chat lacks %q:\n%s", want, got)
				}
			}
		})
	}
}

// Without a stub the call fails and the flow takes onError; a hand-off
// forwards what the contact writes and /resume gives the contact back;
// /timer fires the pending timer.
func TestLocalChatHandoffTimerAndFailedCall(t *testing.T) {
	got := chatLocally(t, message.WhatsApp, nil, "hi", "2")
	if !strings.Contains(got, "(GET https://tea.example.com/kinds at lookup: no stubs, so the call fails; give a test file with http: stubs)\n  (error at lookup: no stub in a local chat)\nbot> No tea today.") {
		t.Errorf("a call without stubs:\n%s", got)
	}
	got = chatLocally(t, message.WhatsApp, nil, "hi", "1", "anyone there?", "/resume", "/resume")
	for _, want := range []string{
		`(handed off to an agent at human, queue "baristas", with the last 3 messages; /resume gives the contact back)`,
		"you> anyone there?\n  (forwarded to the agent)\n",
		"you> /resume\nbot> Back: you wrote anyone there?\n",
		"you> /resume\n  (the contact is not handed off)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the chat lacks %q:\n%s", want, got)
		}
	}
	got = chatLocally(t, message.WhatsApp, nil, "hi", "/timer", "/timer")
	if !strings.Contains(got, "you> /timer\n  (the timer of wait fires)\nbot> Too slow!\n") || !strings.Contains(got, "  (no timer is pending)") {
		t.Errorf("timers:\n%s", got)
	}
}

// A message the channel cannot render is refused, with the renderer's
// reason, as the executor's sender would refuse it.
func TestLocalChatRenderRefusal(t *testing.T) {
	src := strings.Replace(localFlow, `buttons: [{id: coffee, title: Coffee}, {id: tea, title: Tea}]`,
		`list: {button: Menu, sections: [{title: Drinks, rows: [{id: coffee, title: Coffee}]}]}`, 1)
	var out bytes.Buffer
	p, errs := flow.Compile(mustSpec(t, strings.Replace(src, "%s", "Manual", 1)), flow.Options{Channel: message.Viber, FlowName: "drinks"})
	if len(errs) == 0 {
		t.Fatal("Viber lists compiled: the capability table should refuse them (the render refusal is then untestable here)")
	}
	p, errs = flow.Compile(mustSpec(t, strings.Replace(src, "%s", "Manual", 1)), flow.Options{FlowName: "drinks"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	err := StartLocal(context.Background(), LocalConfig{Program: p, Name: "drinks", Inputs: map[string]any{},
		Account: Account{Channel: message.Viber, ID: account, SenderName: "Cafe", Manual: true}, ContactID: who.ID,
		In: strings.NewReader(""), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(Viber refuses the message of ask: viber: invalid message: templates and list messages are WhatsApp only)") {
		t.Errorf("no refusal:\n%s", out.String())
	}
}

func mustSpec(t *testing.T, src string) *v1alpha1.ChatFlowSpec {
	t.Helper()
	var spec v1alpha1.ChatFlowSpec
	if err := yaml.UnmarshalStrict([]byte(src), &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}
