package flow

import (
	"testing"
	"time"
)

const flowWait = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {saveAs: answer}, next: got, onTimeout: late}
- {id: got, type: SendMessage, sendMessage: {text: "You said {{ message.text }}{{ message.buttonId }} ({{ message.type }})"}, next: wait2}
- {id: wait2, type: WaitForReply, waitForReply: {timeout: 1h}, next: end}
- {id: late, type: SendMessage, sendMessage: {text: "Too late"}, next: end}
- {id: end, type: End}
`

func TestStepWaitForReply(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "waits with the default timeout", flow: flowWait, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @wait:WaitForReply`,
			`setTimer r.1 at=2026-03-01T09:10:00Z`,
		}, session: sessionWant{status: StatusWaitingReply, node: "wait", wait: Wait{TimerID: "r.1", Deadline: at(10 * time.Minute)}}},
		{name: "a text reply is saved and goes to next", flow: flowWait, before: []Event{run("r")}, ev: says("m1", "hello"), at: time.Minute, want: []string{
			`cancelTimer r.1`,
			`log node_left @wait:WaitForReply branch=replied`,
			`log node_entered @got:SendMessage`,
			`send r.2 @got {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"You said hello (text)"}`,
			`log node_left @got:SendMessage branch=next`,
			`log node_entered @wait2:WaitForReply`,
			`setTimer r.3 at=2026-03-01T10:01:00Z`,
		}, session: sessionWant{status: StatusWaitingReply, node: "wait2", vars: `{"answer":"hello"}`, message: "hello", wait: Wait{TimerID: "r.3", Deadline: at(time.Minute + time.Hour)}}},
		{name: "a button reply saves the button id", flow: flowWait, before: []Event{run("r")}, ev: tap("m1", "track"), want: []string{
			`cancelTimer r.1`,
			`log node_left @wait:WaitForReply branch=replied`,
			`log node_entered @got:SendMessage`,
			`send r.2 @got {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"You said track (button)"}`,
			`log node_left @got:SendMessage branch=next`,
			`log node_entered @wait2:WaitForReply`,
			`setTimer r.3 at=2026-03-01T10:00:00Z`,
		}, session: sessionWant{status: StatusWaitingReply, node: "wait2", vars: `{"answer":"track"}`, message: "track", wait: Wait{TimerID: "r.3", Deadline: at(time.Hour)}}},
		{name: "the timer takes onTimeout", flow: flowWait, before: []Event{run("r")}, ev: timer("r.1"), at: 10 * time.Minute, want: []string{
			`log node_left @wait:WaitForReply branch=timeout`,
			`log node_entered @late:SendMessage`,
			`send r.2 @late {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Too late"}`,
			`log node_left @late:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end"}},
		{name: "without onTimeout the timer goes to next", flow: flowWait, before: []Event{run("r"), says("m1", "hi")}, ev: timer("r.3"), want: []string{
			`log node_left @wait2:WaitForReply branch=timeout`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"answer":"hi"}`, message: "hi"}},
		{name: "a stale timer is ignored", flow: flowWait, before: []Event{run("r"), says("m1", "hi")}, ev: timer("r.1"), want: nil,
			session: sessionWant{status: StatusWaitingReply, node: "wait2", vars: `{"answer":"hi"}`, message: "hi", wait: Wait{TimerID: "r.3", Deadline: at(time.Hour)}}},
		{name: "a stale effect result is ignored", flow: flowWait, before: []Event{run("r")}, ev: HTTPResult{EffectID: "r.1", Status: 200}.Event(), want: nil,
			session: sessionWant{status: StatusWaitingReply, node: "wait", wait: Wait{TimerID: "r.1", Deadline: at(10 * time.Minute)}}},
	})
}

const flowCondition = `
trigger: {type: Manual, inputs: [{name: num}]}
nodes:
- {id: start, type: Start, next: route}
- id: route
  type: Condition
  condition:
    branches:
    - {name: small, when: "trigger.num < 10", next: a}
    - {when: "vars.num < 100", next: b}
    default: c
- {id: a, type: End}
- {id: b, type: End}
- {id: c, type: End}
`

func runWith(inputs map[string]any) Event {
	return RunStarted{RunID: "r", Contact: ann, Inputs: inputs}.Event()
}

func TestStepCondition(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "the first true branch wins", flow: flowCondition, ev: runWith(map[string]any{"num": 5}), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @route:Condition`,
			`log node_left @route:Condition branch=small`,
			`log node_entered @a:End`,
			`log run_ended @a:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "a", vars: `{"num":5}`}},
		{name: "later branches are tried in order", flow: flowCondition, ev: runWith(map[string]any{"num": 50.0}), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @route:Condition`,
			`log node_left @route:Condition branch=branches[1]`,
			`log node_entered @b:End`,
			`log run_ended @b:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "b", vars: `{"num":50.0}`}},
		{name: "default when none matches", flow: flowCondition, ev: runWith(map[string]any{"num": 500}), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @route:Condition`,
			`log node_left @route:Condition branch=default`,
			`log node_entered @c:End`,
			`log run_ended @c:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "c", vars: `{"num":500}`}},
		{name: "an evaluation error logs and takes default", flow: flowCondition, ev: runWith(map[string]any{"num": "five"}), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @route:Condition`,
			`log error @route:Condition "small: no such overload (operand types do not fit: JSON numbers are doubles, so write 1.0 or convert with int(x), double(x), string(x)); taking default"`,
			`log node_left @route:Condition branch=default`,
			`log node_entered @c:End`,
			`log run_ended @c:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "c", vars: `{"num":"five"}`}},
	})
}

const flowSet = `
trigger: {type: WhatsApp}
variables: [{name: count, value: "1"}, {name: keep, value: "k"}]
nodes:
- {id: start, type: Start, next: set}
- id: set
  type: SetVariables
  setVariables:
    variables:
    - {name: num, expr: "int(vars.count) + 1"}
    - {name: label, value: "n={{ vars.num }}"}
    - {name: ratio, expr: "double(vars.num) / 4.0"}
    - {name: obj, expr: '{"list": [1, 2.5, "x", true, null], "at": now}'}
    - {name: keep, expr: "vars.nope.x"}
  next: end
- {id: end, type: End}
`

func TestStepSetVariables(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "templates give strings, expressions any type, in order; errors keep the value", flow: flowSet, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @set:SetVariables`,
			`log error @set:SetVariables "keep: no such key: nope; left unchanged"`,
			`log node_left @set:SetVariables branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end",
			vars: `{"count":"1","keep":"k","label":"n=2","num":2,"obj":{"at":"2026-03-01T09:00:00Z","list":[1,2.5,"x",true,null]},"ratio":0.5}`}},
	})
}

const flowHTTP = `
trigger: {type: WhatsApp}
variables: [{name: id, value: "A 1"}]
nodes:
- {id: start, type: Start, next: call}
- id: call
  type: HTTPRequest
  httpRequest:
    method: POST
    url: "https://api.example.com/orders/{{ vars.id }}?v=2"
    query: [{name: lang, value: "{{ contact.name }}"}, {name: "q&x", value: "a b"}]
    headers:
    - {name: Authorization, valueFrom: {secretKeyRef: {name: api, key: token}}}
    - {name: X-Contact, value: "{{ contact.id }}"}
    body: '{"id": "{{ vars.id }}"}'
    timeout: 5s
    saveAs: res
  next: ok
  onError: failed
- {id: ok, type: End}
- {id: failed, type: End}
`

const flowHTTPNoOnError = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: call}
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/x", saveAs: res}, next: end}
- {id: end, type: End}
`

func TestStepHTTPRequest(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "the call is rendered and awaited", flow: flowHTTP, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @call:HTTPRequest`,
			`http r.1 @call POST https://api.example.com/orders/A%201?v=2&lang=Ann&q%26x=a+b timeout=5s headers=[{"name":"Authorization","secretRef":{"name":"api","key":"token"}},{"name":"X-Contact","value":"15550001111"}] body="{\"id\": \"A 1\"}"`,
		}, session: sessionWant{status: StatusWaitingHTTP, node: "call", vars: `{"id":"A 1"}`, wait: Wait{EffectID: "r.1"}}},
		{name: "2xx saves the decoded JSON and goes to next", flow: flowHTTP, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Status: 201, Headers: map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Req": "7"}, Body: []byte(`{"status":"shipped","items":[1,2.5]}`)}.Event(),
			want: []string{
				`log node_left @call:HTTPRequest branch=success`,
				`log node_entered @ok:End`,
				`log run_ended @ok:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "ok", vars: `{"id":"A 1","res":{"body":{"items":[1,2.5],"status":"shipped"},"headers":{"content-type":"application/json; charset=utf-8","x-req":"7"},"status":201}}`}},
		{name: "non-JSON bodies are strings; non-2xx takes onError", flow: flowHTTP, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Status: 404, ContentType: "text/plain", Body: []byte("not found")}.Event(),
			want: []string{
				`log error @call:HTTPRequest "the request returned HTTP 404"`,
				`log node_left @call:HTTPRequest branch=error`,
				`log node_entered @failed:End`,
				`log run_ended @failed:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "failed", vars: `{"id":"A 1","res":{"body":"not found","headers":{},"status":404}}`}},
		{name: "invalid JSON stays a string", flow: flowHTTP, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Status: 200, ContentType: "application/json", Body: []byte(`{"a":`)}.Event(),
			want: []string{
				`log node_left @call:HTTPRequest branch=success`,
				`log node_entered @ok:End`,
				`log run_ended @ok:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "ok", vars: `{"id":"A 1","res":{"body":"{\"a\":","headers":{},"status":200}}`}},
		{name: "an error without onError ends the run", flow: flowHTTPNoOnError, before: []Event{run("r")},
			ev: HTTPResult{EffectID: "r.1", Err: "timeout after 10s"}.Event(),
			want: []string{
				`log error @call:HTTPRequest "timeout after 10s"`,
				`log run_ended @call:HTTPRequest "error"`,
			}, session: sessionWant{status: StatusEnded, node: "call"}},
		{name: "a result for another call is ignored", flow: flowHTTP, before: []Event{run("r")},
			ev:   HTTPResult{EffectID: "r.0", Status: 200}.Event(),
			want: nil, session: sessionWant{status: StatusWaitingHTTP, node: "call", vars: `{"id":"A 1"}`, wait: Wait{EffectID: "r.1"}}},
	})
}

const flowDelay = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: pause}
- {id: pause, type: Delay, delay: {duration: 90s}, next: echo}
- {id: echo, type: SendMessage, sendMessage: {text: "last: {{ message.text }}"}, next: end}
- {id: end, type: End}
`

func TestStepDelay(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "a delay sets a timer", flow: flowDelay, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @pause:Delay`,
			`setTimer r.1 at=2026-03-01T09:01:30Z`,
		}, session: sessionWant{status: StatusDelayed, node: "pause", wait: Wait{TimerID: "r.1", Deadline: at(90 * time.Second)}}},
		{name: "an inbound message during a delay is recorded, not acted on", flow: flowDelay, before: []Event{run("r")}, ev: says("m1", "still there?"), want: []string{
			`log message_ignored @pause:Delay "recorded as message.*; the flow goes on when the Delay node completes"`,
		}, session: sessionWant{status: StatusDelayed, node: "pause", message: "still there?", wait: Wait{TimerID: "r.1", Deadline: at(90 * time.Second)}}},
		{name: "the timer goes on to next", flow: flowDelay, before: []Event{run("r"), says("m1", "still there?")}, ev: timer("r.1"), at: 90 * time.Second, want: []string{
			`log node_left @pause:Delay branch=next`,
			`log node_entered @echo:SendMessage`,
			`send r.2 @echo {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"last: still there?"}`,
			`log node_left @echo:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end", message: "still there?"}},
	})
}

const flowJump = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "again?"}, next: again}
- {id: again, type: Jump, jump: {target: ask, maxJumps: 2}, next: end}
- {id: end, type: End}
`

func TestStepJump(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "jumps maxJumps times, then goes on to next", flow: flowJump, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @ask:SendMessage`,
			`send r.1 @ask {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"again?"}`,
			`log node_left @ask:SendMessage branch=next`,
			`log node_entered @again:Jump`,
			`log node_left @again:Jump branch=jump`,
			`log node_entered @ask:SendMessage`,
			`send r.2 @ask {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"again?"}`,
			`log node_left @ask:SendMessage branch=next`,
			`log node_entered @again:Jump`,
			`log node_left @again:Jump branch=jump`,
			`log node_entered @ask:SendMessage`,
			`send r.3 @ask {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"again?"}`,
			`log node_left @ask:SendMessage branch=next`,
			`log node_entered @again:Jump`,
			`log node_left @again:Jump branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end", jumps: map[string]int{"again": 2}}},
	})
}

const flowHandoff = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: agent}
- {id: agent, type: Handoff, handoff: {notifyURL: "https://agents.example.com/hook?c={{ contact.id }}", queue: billing, timeout: 2h}, next: back, onTimeout: closed}
- {id: back, type: SendMessage, sendMessage: {text: "Back to the bot"}, next: end}
- {id: closed, type: SendMessage, sendMessage: {text: "Nobody answered"}, next: end}
- {id: end, type: End}
`

func TestStepHandoff(t *testing.T) {
	handedOff := Wait{TimerID: "r.2", URL: "https://agents.example.com/hook?c=15550001111", Deadline: at(2 * time.Hour)}
	runStepCases(t, []stepCase{
		{name: "hand-off notifies and sets its timer", flow: flowHandoff, ev: run("r"), want: []string{
			`log run_started "manual"`,
			`log node_entered @start:Start`,
			`log node_left @start:Start branch=next`,
			`log node_entered @agent:Handoff`,
			`handoff r.1 @agent url="https://agents.example.com/hook?c=15550001111" queue="billing" contact={"id":"15550001111","name":"Ann","channel":"WhatsApp"} transcript=[]`,
			`setTimer r.2 at=2026-03-01T11:00:00Z`,
		}, session: sessionWant{status: StatusHandedOff, node: "agent", wait: handedOff}},
		{name: "the notice carries the recent conversation", flow: flowHandoff, before: []Event{run("r"), says("m1", "hello?"), Resume{}.Event()},
			ev: says("m2", "me again"), want: []string{
				`log run_started "inbound"`,
				`log node_entered @start:Start`,
				`log node_left @start:Start branch=next`,
				`log node_entered @agent:Handoff`,
				`handoff 213a330d4d0ed7ae.6 @agent url="https://agents.example.com/hook?c=15550001111" queue="billing" contact={"id":"15550001111","name":"Ann","channel":"WhatsApp"} transcript=[` +
					`{"from":"contact","text":"hello?","at":"2026-03-01T09:00:00Z"},` +
					`{"from":"flow","nodeId":"back","text":"Back to the bot","at":"2026-03-01T09:00:00Z"},` +
					`{"from":"contact","text":"me again","at":"2026-03-01T09:00:00Z"}]`,
				`setTimer 213a330d4d0ed7ae.7 at=2026-03-01T11:00:00Z`,
			}, session: sessionWant{status: StatusHandedOff, node: "agent", message: "me again",
				wait: Wait{TimerID: "213a330d4d0ed7ae.7", URL: "https://agents.example.com/hook?c=15550001111", Deadline: at(2 * time.Hour)}}},
		{name: "messages during a hand-off are forwarded and kept", flow: flowHandoff, before: []Event{run("r")}, ev: says("m1", "hello?"), want: []string{
			`handoffMessage r.3 @agent url="https://agents.example.com/hook?c=15550001111" queue="billing" contact={"id":"15550001111","name":"Ann","channel":"WhatsApp"} message={"id":"m1","contact":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"kind":"text","text":"hello?","timestamp":"2026-03-01T09:00:00Z"}`,
			`log message_ignored @agent:Handoff "the contact is handed off: forwarded to the agent, and recorded as message.* for when the flow resumes"`,
		}, session: sessionWant{status: StatusHandedOff, node: "agent", message: "hello?", wait: handedOff}},
		{name: "resume goes on to next", flow: flowHandoff, before: []Event{run("r")}, ev: Resume{}.Event(), want: []string{
			`cancelTimer r.2`,
			`log node_left @agent:Handoff branch=resumed`,
			`log node_entered @back:SendMessage`,
			`send r.3 @back {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Back to the bot"}`,
			`log node_left @back:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end"}},
		{name: "the hand-off timer takes onTimeout", flow: flowHandoff, before: []Event{run("r")}, ev: timer("r.2"), want: []string{
			`log node_left @agent:Handoff branch=timeout`,
			`log node_entered @closed:SendMessage`,
			`send r.3 @closed {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Nobody answered"}`,
			`log node_left @closed:SendMessage branch=next`,
			`log node_entered @end:End`,
			`log run_ended @end:End "end"`,
		}, session: sessionWant{status: StatusEnded, node: "end"}},
		{name: "resume when not handed off is ignored", flow: flowWait, before: []Event{run("r")}, ev: Resume{}.Event(), want: nil,
			session: sessionWant{status: StatusWaitingReply, node: "wait", wait: Wait{TimerID: "r.1", Deadline: at(10 * time.Minute)}}},
	})
}

const flowManual = `
trigger: {type: Manual, inputs: [{name: orderId, required: true}, {name: lang}]}
variables: [{name: lang, value: en}]
nodes:
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Order {{ trigger.orderId }} / {{ vars.orderId }} in {{ vars.lang }}"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {}, next: end}
- {id: end, type: End}
`

func TestStepRuns(t *testing.T) {
	runStepCases(t, []stepCase{
		{name: "inputs: declared ones kept, readable as trigger and vars", flow: flowManual,
			ev: RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"orderId": "A7", "lang": "de", "admin": true}}.Event(), want: []string{
				`log run_started "manual"`,
				`log node_entered @start:Start`,
				`log node_left @start:Start branch=next`,
				`log node_entered @hello:SendMessage`,
				`send r.1 @hello {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Order A7 / A7 in de"}`,
				`log node_left @hello:SendMessage branch=next`,
				`log node_entered @wait:WaitForReply`,
				`setTimer r.2 at=2026-03-01T09:10:00Z`,
			}, session: sessionWant{status: StatusWaitingReply, node: "wait", vars: `{"lang":"de","orderId":"A7"}`, wait: Wait{TimerID: "r.2", Deadline: at(10 * time.Minute)}}},
		{name: "a missing required input rejects the run", flow: flowManual,
			ev: RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"lang": "de"}}.Event(), want: []string{
				`log error "run rejected: the required input \"orderId\" is missing"`,
			}, session: sessionWant{nilSession: true}},
		{name: "a new run replaces the one in progress", flow: flowManual,
			before: []Event{RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"orderId": "A7"}}.Event()},
			ev:     RunStarted{RunID: "r2", Contact: ann, Inputs: map[string]any{"orderId": "B8"}}.Event(), want: []string{
				`cancelTimer r.2`,
				`log run_ended @wait:WaitForReply "superseded by a new run"`,
				`log run_started "manual"`,
				`log node_entered @start:Start`,
				`log node_left @start:Start branch=next`,
				`log node_entered @hello:SendMessage`,
				`send r2.3 @hello {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Order B8 / B8 in en"}`,
				`log node_left @hello:SendMessage branch=next`,
				`log node_entered @wait:WaitForReply`,
				`setTimer r2.4 at=2026-03-01T09:10:00Z`,
			}, session: sessionWant{status: StatusWaitingReply, node: "wait", vars: `{"lang":"en","orderId":"B8"}`, wait: Wait{TimerID: "r2.4", Deadline: at(10 * time.Minute)}}},
		{name: "a Manual flow does not start on an inbound message", flow: flowManual, ev: says("m1", "hi"), want: []string{
			`log message_ignored "a Manual flow starts only through the run API; no run is in progress for this contact"`,
		}, session: sessionWant{nilSession: true}},
		{name: "a Manual run in progress takes inbound replies", flow: flowManual,
			before: []Event{RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"orderId": "A7"}}.Event()},
			ev:     says("m1", "hi"), want: []string{
				`cancelTimer r.2`,
				`log node_left @wait:WaitForReply branch=replied`,
				`log node_entered @end:End`,
				`log run_ended @end:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "end", vars: `{"lang":"en","orderId":"A7"}`, message: "hi"}},
		{name: "an inbound message to an ended session starts a new run", flow: flowStartEnd,
			before: []Event{says("m1", "hi")}, ev: says("m2", "again"), want: []string{
				`log run_started "inbound"`,
				`log node_entered @start:Start`,
				`log node_left @start:Start branch=next`,
				`log node_entered @end:End`,
				`log run_ended @end:End "end"`,
			}, session: sessionWant{status: StatusEnded, node: "end", message: "again"}},
		{name: "a timer without a session does nothing", flow: flowWait, ev: timer("x.1"), want: nil, session: sessionWant{nilSession: true}},
	})
}

// TestStepRunIDs: runs started by inbound messages get deterministic,
// distinct ids, and effect ids never repeat for a contact.
func TestStepRunIDs(t *testing.T) {
	p := mustCompile(t, flowWait)
	s1, _ := Step(p, nil, says("m1", "hi"), t0)
	s2, _ := Step(p, nil, says("m1", "hi"), t0)
	if s1.RunID != s2.RunID || len(s1.RunID) != 16 {
		t.Fatalf("run ids %q and %q", s1.RunID, s2.RunID)
	}
	first := s1.RunID
	seen := map[string]bool{}
	s := s1
	for i := 0; i < 5; i++ {
		var fx []Effect
		s, fx = Step(p, s, timer(s.Wait.TimerID), t0) // timeout → late → end
		if s.Status != StatusEnded && s.Node != "wait2" {
			t.Fatalf("status %s at %s", s.Status, s.Node)
		}
		for _, e := range fx {
			for _, id := range []string{e.Send.ID, e.Timer.ID} {
				if id != "" && e.Kind != EffectCancelTimer {
					if seen[id] {
						t.Fatalf("id %s reused", id)
					}
					seen[id] = true
				}
			}
		}
		if s.Status == StatusEnded {
			s, _ = Step(p, s, says("m1", "hi"), t0) // same message id again: a new run id
			if s.RunID == first {
				t.Fatal("a new run reused the run id")
			}
		}
	}
}
