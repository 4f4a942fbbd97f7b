package flow

import (
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

const flowStartEnd = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: end}
- {id: end, type: End}
`

const flowSend = `
trigger: {type: WhatsApp}
variables: [{name: shop, value: "Acme"}]
nodes:
- {id: start, type: Start, next: hello}
- id: hello
  type: SendMessage
  sendMessage:
    text: "Hi {{ contact.name }}, welcome to {{ vars.shop }}"
    media: {type: Image, url: "https://cdn.example.com/{{ vars.shop }}.png", caption: Logo}
    buttons: [{id: track, title: Track}, {id: human, title: "{{ vars.shop }} agent"}]
  next: end
- {id: end, type: End}
`

const flowSendOnError = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "Order number?"}, next: wait, onError: sorry}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 5m, saveAs: order}, next: thanks}
- {id: thanks, type: SendMessage, sendMessage: {text: "Thanks"}, next: end}
- {id: sorry, type: SendMessage, sendMessage: {text: "{{ vars.missing }}"}, next: end}
- {id: end, type: End}
`

const flowRichSend = `
trigger: {type: WhatsApp}
variables: [{name: name, value: "Ann"}]
nodes:
- {id: start, type: Start, next: list}
- id: list
  type: SendMessage
  sendMessage:
    text: Pick one
    list:
      button: Menu
      sections:
      - title: Orders
        rows: [{id: track, title: "Track", description: "Where is it, {{ vars.name }}?"}]
      - title: Help
        rows: [{id: agent, title: Agent}]
  next: tpl
- id: tpl
  type: SendMessage
  sendMessage:
    template:
      name: order_update
      language: en_US
      components:
      - type: header
        parameters: [{type: image, link: "https://cdn.example.com/{{ vars.name }}.png"}]
      - type: body
        parameters: [{type: text, text: "{{ vars.name }}"}]
      - type: button
        subType: quick_reply
        index: 0
        parameters: [{type: payload, payload: "stop"}]
  next: end
- {id: end, type: End}
`

func TestStepStartEndAndSend(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "start to end", flow: flowStartEnd, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end"}},
		{name: "send renders text, media and buttons", flow: flowSend, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @hello:SendMessage`,
			`send r.1 @hello {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Hi Ann, welcome to Acme","media":{"kind":"image","url":"https://cdn.example.com/Acme.png","caption":"Logo"},"buttons":[{"id":"track","title":"Track"},{"id":"human","title":"Acme agent"}]}`,
			`log node_left @hello:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"shop":"Acme"}`}},
		{name: "a send result after the run ended is logged", flow: flowSend, before: []Event{run("r")}, ev: sent("r.1", "wamid.1"), want: []string{
			`log message_sent @hello:SendMessage "wamid.1"`,
		}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"shop":"Acme"}`}},
		{name: "a failed send without onError is only logged", flow: flowSend, before: []Event{run("r")}, ev: sendFailed("r.1"), want: []string{
			`log message_failed @hello:SendMessage "Re-engagement message (code 131047, permanent)"`,
		}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"shop":"Acme"}`}},
		{name: "list and template messages", flow: flowRichSend, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @list:SendMessage`,
			`send r.1 @list {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Pick one","list":{"button":"Menu","sections":[{"title":"Orders","rows":[{"id":"track","title":"Track","description":"Where is it, Ann?"}]},{"title":"Help","rows":[{"id":"agent","title":"Agent"}]}]}}`,
			`log node_left @list:SendMessage branch=next`,
			`log node_entered @tpl:SendMessage`,
			`send r.2 @tpl {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"template":{"name":"order_update","language":"en_US","components":[{"type":"header","parameters":[{"type":"image","link":"https://cdn.example.com/Ann.png"}]},{"type":"body","parameters":[{"type":"text","text":"Ann"}]},{"type":"button","subType":"quick_reply","parameters":[{"type":"payload","payload":"stop"}]}]}}`,
			`log node_left @tpl:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"name":"Ann"}`}},
	})
}

func TestStepSendOnError(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "with onError the send waits for its result", flow: flowSendOnError, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @ask:SendMessage`,
			`send r.1 @ask {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Order number?"}`,
		}, session: sessionWant{status: StatusWaitingSend, node: "ask", wait: Wait{EffectID: "r.1"}}},
		{name: "success goes on to next", flow: flowSendOnError, before: []Event{run("r")}, ev: sent("r.1", "wamid.1"), want: []string{
			`log message_sent @ask:SendMessage "wamid.1"`,
			`log node_left @ask:SendMessage branch=sent`,
			`log node_entered @wait:WaitForReply`,
			`setTimer r.2 at=2026-03-01T09:05:00Z`,
		}, session: sessionWant{status: StatusWaitingReply, node: "wait", wait: Wait{TimerID: "r.2", Deadline: at(5 * time.Minute)}}},
		{name: "failure takes onError; a render error without onError ends the run", flow: flowSendOnError, before: []Event{run("r")}, ev: sendFailed("r.1"), want: []string{
			`log message_failed @ask:SendMessage "Re-engagement message (code 131047, permanent)"`,
			`log node_left @ask:SendMessage branch=error`,
			`log node_entered @sorry:SendMessage`,
			`log error @sorry:SendMessage "rendering the message: {{ vars.missing }}: no such key: missing"`,
			`log run_ended @sorry:SendMessage "error"`,
		}, session: sessionWant{status: StatusEnded, node: "sorry"}},
		{name: "a result for another effect is only logged", flow: flowSendOnError, before: []Event{run("r")}, ev: sent("r.9", "wamid.9"), want: []string{
			`log message_sent "wamid.9"`,
		}, session: sessionWant{status: StatusWaitingSend, node: "ask", wait: Wait{EffectID: "r.1"}}},
		{name: "an async failure while waiting after the send takes onError", flow: flowSendOnError,
			before: []Event{run("r"), sent("r.1", "wamid.1")},
			ev:     StatusUpdate(message.Status{MessageID: "wamid.1", Contact: ann, State: "failed", Error: &message.SendError{Class: message.Permanent, Code: 131026, Message: "Message undeliverable"}}),
			want: []string{
				`log message_failed @ask:SendMessage "Message undeliverable (code 131026, permanent)"`,
				`cancelTimer r.2`,
				`log node_left @wait:WaitForReply branch=send_failed`,
				`log node_entered @sorry:SendMessage`,
				`log error @sorry:SendMessage "rendering the message: {{ vars.missing }}: no such key: missing"`,
				`log run_ended @sorry:SendMessage "error"`,
			}, session: sessionWant{status: StatusEnded, node: "sorry"}},
		{name: "an async failure after the contact replied is only logged", flow: flowSendOnError,
			before: []Event{run("r"), sent("r.1", "wamid.1"), says("m1", "A1")},
			ev:     StatusUpdate(message.Status{MessageID: "wamid.1", State: "failed"}),
			want: []string{
				`log message_failed @ask:SendMessage "failed"`,
			}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"order":"A1"}`, message: "A1"}},
		{name: "other statuses are ignored", flow: flowSendOnError,
			before: []Event{run("r"), sent("r.1", "wamid.1")},
			ev:     StatusUpdate(message.Status{MessageID: "wamid.1", State: "delivered"}),
			want:   nil, session: sessionWant{status: StatusWaitingReply, node: "wait", wait: Wait{TimerID: "r.2", Deadline: at(5 * time.Minute)}}},
	})
}
