package flow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

var fuzzChannels = []message.Channel{"", message.WhatsApp, message.Messenger, message.Instagram, message.Viber, message.Manual}

// FuzzCompile: any bytes that decode (as JSON or YAML) into a ChatFlowSpec
// compile without panicking; a valid program also runs its first turn.
func FuzzCompile(f *testing.F) {
	for _, src := range []string{okNodes, flowSend, flowWait, flowHTTP, flowHandoff, flowManual, flowRichSend, canonA, flowTurn, fuzzAIFlow} {
		f.Add([]byte(src))
	}
	if files, _ := filepath.Glob("testdata/*.yaml"); len(files) > 0 {
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var spec v1alpha1.ChatFlowSpec
		if json.Unmarshal(data, &spec) != nil {
			spec = v1alpha1.ChatFlowSpec{}
			if yaml.Unmarshal(data, &spec) != nil {
				return
			}
		}
		ch := fuzzChannels[len(data)%len(fuzzChannels)]
		p, errs := Compile(&spec, Options{Channel: ch})
		if _, err := Canonical(&spec); err != nil {
			t.Fatalf("Canonical: %v", err)
		}
		if p == nil {
			if len(errs) == 0 {
				t.Fatal("no program and no errors")
			}
			return
		}
		if len(errs) > 0 {
			t.Fatal("a program with errors")
		}
		s, _ := Step(p, nil, RunStarted{RunID: "r", Contact: ann}.Event(), t0)
		s, _ = Step(p, s, says("m1", "hello"), t0)
		roundTrip(t, s)
	})
}

// fuzzFlow exercises every node type and every wait.
const fuzzFlow = `
trigger: {type: WhatsApp}
variables: [{name: count, value: "0"}]
nodes:
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Hi {{ contact.name }}", buttons: [{id: a, title: A}, {id: b, title: B}]}, next: wait, onError: sorry}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1m, saveAs: answer}, next: route, onTimeout: pause}
- id: route
  type: Condition
  condition:
    branches:
    - {when: 'message.buttonId == "a"', next: call}
    - {when: 'message.text == "agent"', next: agent}
    - {when: 'int(vars.count) > 2', next: end}
    default: count
- {id: count, type: SetVariables, setVariables: {variables: [{name: count, expr: "int(vars.count) + 1"}, {name: echo, value: "{{ vars.answer }}"}]}, next: again}
- {id: again, type: Jump, jump: {target: hello, maxJumps: 3}, next: end}
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/{{ vars.answer }}", saveAs: res}, next: show, onError: sorry}
- {id: show, type: SendMessage, sendMessage: {text: "{{ vars.res.body }}"}, next: wait}
- {id: pause, type: Delay, delay: {duration: 30s}, next: hello}
- {id: agent, type: Handoff, handoff: {queue: q}, next: hello, onTimeout: end}
- {id: sorry, type: SendMessage, sendMessage: {text: "Sorry"}, next: end}
- {id: end, type: End}
`

var fuzzTexts = []string{"hi", "agent", "a", "stop", "", "{}", "order 42", "é€"}

// decodeEvents turns fuzz bytes into events, aiming about half of the ids
// at what the session waits for so that the flow moves.
func decodeEvents(data []byte, s *Session) (Event, []byte) {
	if len(data) == 0 {
		return Event{}, nil
	}
	kind, arg := data[0], byte(0)
	data = data[1:]
	if len(data) > 0 {
		arg, data = data[0], data[1:]
	}
	pending := func() (string, string) {
		if s == nil {
			return "", ""
		}
		return s.Wait.TimerID, s.Wait.EffectID
	}
	timerID, effectID := pending()
	if arg&1 == 1 {
		timerID, effectID = "r.1", "x.9"
	}
	txt := fuzzTexts[int(arg>>1)%len(fuzzTexts)]
	switch kind % 9 {
	case 0:
		return says("m"+txt, txt), data
	case 1:
		return tap("t"+txt, txt), data
	case 2:
		return timer(timerID), data
	case 3:
		return RunStarted{RunID: "r", Contact: ann, Inputs: map[string]any{"x": txt}}.Event(), data
	case 4:
		r := HTTPResult{EffectID: effectID, Status: []int{200, 404, 500, 0}[arg%4], ContentType: "application/json", Body: []byte(`{"ok":` + []string{"true", "1", "[1,2]", `"x"`}[(arg>>2)%4] + `}`)}
		if arg&32 != 0 {
			r.Err = "timeout"
		}
		return r.Event(), data
	case 5:
		if arg&2 != 0 {
			return sendFailed(effectID), data
		}
		return sent(effectID, "wamid."+txt), data
	case 6:
		st := "failed"
		if arg&2 != 0 {
			st = "read"
		}
		return StatusUpdate(message.Status{MessageID: "wamid." + txt, State: st}), data
	case 7:
		return Resume{}.Event(), data
	default:
		return Event{Kind: EventKind(txt)}, data
	}
}

// FuzzStep: any sequence of events on a fixed program never panics, and
// the session always round-trips through JSON; a stored and reloaded
// session behaves like the one kept in memory.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 5, 0, 0, 2, 4, 0})
	f.Add([]byte{3, 0, 5, 0, 1, 4, 4, 0, 5, 0, 2, 0, 0, 2, 7, 0})
	f.Add([]byte{0, 0, 5, 2, 0, 0, 6, 0})
	p := mustCompile(f, fuzzFlow)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzSteps(t, p, data, decodeEvents) })
}

// fuzzSteps steps p through the events decode reads from data, checking
// after each step that the session round-trips through JSON and is not
// left Active; every other step continues from the stored copy.
func fuzzSteps(t *testing.T, p *Program, data []byte, decode func([]byte, *Session) (Event, []byte)) {
	var s, stored *Session
	now := t0
	for steps := 0; len(data) > 0 && steps < 200; steps++ {
		var ev Event
		ev, data = decode(data, s)
		now = now.Add(7 * time.Second)
		var fx []Effect
		s, fx = Step(p, s, ev, now)
		for _, e := range fx {
			_ = e.String()
		}
		if s == nil {
			continue
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		stored = &Session{}
		if err := json.Unmarshal(b, stored); err != nil {
			t.Fatalf("unmarshal: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(stored)
		if string(b) != string(b2) {
			t.Fatalf("session does not round-trip:\n%s\n%s", b, b2)
		}
		if s.Status == StatusActive {
			t.Fatalf("a session at rest is Active: %s", b)
		}
		// Continue from the stored copy every other step.
		if steps%2 == 1 {
			s = stored
		}
	}
}

// fuzzAIFlow puts the AI nodes between a wait, its timer and a hand-off,
// so that messages, timers and stale results arrive while a model call is
// pending.
const fuzzAIFlow = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: route}
- id: route
  type: AIClassify
  aiClassify:
    model: m
    history: 2
    labels: [{name: order, next: read}, {name: person, next: agent}, {name: question, next: answer}]
    default: answer
    saveAs: intent
- id: read
  type: AIExtract
  aiExtract: {model: m, fields: [{name: orderNumber, required: true}, {name: qty, type: Integer}]}
  next: answer
  onError: ask
- id: answer
  type: AIReply
  aiReply: {model: m, systemPrompt: "Intent {{ vars.intent.label }}", history: 6}
  next: wait
  onError: ask
- {id: ask, type: SendMessage, sendMessage: {text: "Which order?"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1m}, next: route, onTimeout: agent}
- {id: agent, type: Handoff, handoff: {queue: q}, next: route, onTimeout: end}
- {id: end, type: End}
`

var fuzzAnswers = []string{
	`{"label":"order","confidence":0.9}`, `{"label":"person"}`, `{"label":"question","confidence":null}`,
	`{"orderNumber":"42","qty":2}`, `{"qty":1.5}`, "We open at 9.", "", "not json",
}

// decodeAIEvents reads a model result from a first byte that is 9 modulo
// 10 (aimed at the pending call, or a stale id; an answer, a refusal or an
// error), and any other event as decodeEvents does.
func decodeAIEvents(data []byte, s *Session) (Event, []byte) {
	if len(data) < 2 || data[0]%10 != 9 {
		return decodeEvents(data, s)
	}
	arg := data[1]
	r := ModelResult{EffectID: "x.9", Content: fuzzAnswers[int(arg>>1)%len(fuzzAnswers)]}
	if s != nil && arg&1 == 0 {
		r.EffectID = s.Wait.EffectID
	}
	switch (arg >> 5) & 3 {
	case 1:
		r.Content, r.Refusal = "", "I can't help with that."
	case 2:
		r.Content, r.Err = "", "HTTP 500"
	}
	return r.Event(), data[2:]
}

// FuzzStepAI: FuzzStep on a program of AI nodes, with model results among
// the events.
func FuzzStepAI(f *testing.F) {
	// A message is classified as an order, its number read, the reply sent,
	// then the wait times out into a hand-off.
	f.Add([]byte{0, 0, 9, 0, 9, 6, 9, 10, 5, 0, 2, 0})
	// A refusal, then a failed call, each taking the failure path.
	f.Add([]byte{0, 0, 9, 32, 9, 64, 5, 0, 0, 2, 9, 4})
	// A message and a timer while the classification is pending, then a
	// stale result and the awaited one.
	f.Add([]byte{0, 0, 0, 2, 2, 0, 9, 1, 9, 2, 9, 10})
	p := mustCompile(f, fuzzAIFlow)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzSteps(t, p, data, decodeAIEvents) })
}
