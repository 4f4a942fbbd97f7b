package flow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestCompileAINodes(t *testing.T) {
	runCompileCases(t, []compileCase{
		{name: "a valid AIReply, AIClassify and AIExtract", spec: flowOf(`
- {id: start, type: Start, next: route}
- id: route
  type: AIClassify
  aiClassify:
    model: support-llm
    labels:
    - {name: order, description: questions about an order, next: details}
    - {name: other, next: answer}
    default: answer
    saveAs: intent
- id: details
  type: AIExtract
  aiExtract:
    model: support-llm
    fields:
    - {name: orderNumber, type: String, required: true}
    - {name: size, enum: [S, M, L]}
  next: answer
  onError: answer
- id: answer
  type: AIReply
  aiReply: {model: support-llm, systemPrompt: "You help {{ contact.name }}.", context: "{{ vars.orderNumber }}", history: 4}
  next: end
  onError: end
- {id: end, type: End}
`)},
		{name: "what each AI node must have", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIReply, aiReply: {model: "", systemPrompt: ""}, next: b}
- {id: b, type: AIClassify, aiClassify: {model: Support, labels: [], default: ""}, next: c}
- {id: c, type: AIExtract, aiExtract: {model: m, fields: []}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].aiReply.systemPrompt: Required value: tell the model who it is and how to answer, e.g. "You are the assistant of Harbour Yoga; answer in two sentences."`,
			`spec.nodes[1].aiReply.model: Required value: name the LanguageModel of the flow's namespace to ask, e.g. support-llm`,
			`spec.nodes[2].next: Forbidden: an AIClassify node continues on its labels' next and default, not next: remove next (or make it the default)`,
			`spec.nodes[2].aiClassify.model: Invalid value: "Support": must be the name of a LanguageModel: lower-case letters, digits, '-' and '.', e.g. support-llm`,
			`spec.nodes[2].aiClassify.labels: Required value: an AIClassify node needs at least one label: {name, description, next}`,
			`spec.nodes[2].aiClassify.default: Required value: an AIClassify node needs default: the id of the node that runs when the answer names no label`,
			`spec.nodes[3].aiExtract.fields: Required value: an AIExtract node needs at least one field: {name, type, description, required}`,
		}},
		{name: "labels, fields, history and links", spec: flowOf(`
- {id: start, type: Start, next: a}
- id: a
  type: AIClassify
  aiClassify:
    model: m
    history: 13
    labels:
    - {name: order, next: b}
    - {name: order, next: b}
    - {name: "bad label", next: nowhere}
    default: b
    saveAs: 1st
- id: b
  type: AIExtract
  aiExtract:
    model: m
    fields:
    - {name: qty, type: Integer, enum: ["1"]}
    - {name: qty, type: String}
    - {name: s, type: Text}
  next: end
- id: c
  type: AIReply
  aiReply: {model: m, systemPrompt: "{{ vars.", history: 0}
  next: end
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].aiClassify.history: Invalid value: 13: must be between 0 and 12: the session keeps the last 12 messages`,
			`spec.nodes[1].aiClassify.saveAs: Invalid value: "1st": ` + badName,
			`spec.nodes[1].aiClassify.labels[1].name: Duplicate value: "order": spec.nodes[1].aiClassify.labels[0] has the same name; the answer could not tell them apart`,
			`spec.nodes[1].aiClassify.labels[2].name: Invalid value: "bad label": must be letters, digits, '_' and '-', starting with a letter or digit (at most 64), e.g. order`,
			`spec.nodes[1].aiClassify.labels[2].next: Not found: "nowhere": no node has id "nowhere": must name the id of an existing node`,
			`spec.nodes[2].aiExtract.fields[0].enum: Forbidden: enum applies to String fields only: remove it or set type: String`,
			`spec.nodes[2].aiExtract.fields[1].name: Duplicate value: "qty": spec.nodes[2].aiExtract.fields[0] has the same name; field names must be unique`,
			`spec.nodes[2].aiExtract.fields[2].type: Unsupported value: "Text": supported values: "String", "Number", "Integer", "Boolean"`,
			`spec.nodes[3].aiReply.systemPrompt: Invalid value: "{{ vars.": the template does not compile: column 1: unclosed "{{": end the expression with "}}", or write \{{ for literal braces`,
			`spec.nodes[3].aiReply.history: Invalid value: 0: must be between 1 and 12: the session keeps the last 12 messages`,
		}},
		{name: "onError is for AI nodes too, onTimeout is not", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIReply, aiReply: {model: m, systemPrompt: hi}, next: end, onError: end, onTimeout: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].onTimeout: Forbidden: onTimeout applies only to WaitForReply and Handoff nodes; remove it from this AIReply node`,
		}},
		{name: "a loop through an AI node must wait", spec: flowOf(`
- {id: start, type: Start, next: a}
- id: a
  type: AIClassify
  aiClassify: {model: m, labels: [{name: again, next: a}], default: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1]: Invalid value: "a": the nodes a → a form a loop that never waits: add a WaitForReply or Delay to it, or close it with a Jump (its maxJumps bounds the loop)`,
		}},
	})
}

func TestProgramModels(t *testing.T) {
	p := mustCompile(t, flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIReply, aiReply: {model: writer, systemPrompt: hi, saveAs: x}, next: b}
- {id: b, type: AIClassify, aiClassify: {model: cheap, labels: [{name: y, next: c}], default: c}}
- {id: c, type: AIReply, aiReply: {model: writer, systemPrompt: hi}, next: end}
- {id: end, type: End}
`))
	if got := strings.Join(p.Models(), ","); got != "cheap,writer" {
		t.Errorf("Models() = %s, want cheap,writer", got)
	}
	if got := p.AINodes(); len(got) != 3 || got[1] != (AINode{ID: "b", Type: "AIClassify", Model: "cheap"}) {
		t.Errorf("AINodes() = %+v", got)
	}
	if m := mustCompile(t, flowOf(okNodes)).Models(); len(m) != 0 {
		t.Errorf("a flow without AI nodes uses models %v", m)
	}
}

func TestCanonicalAIDefaults(t *testing.T) {
	a, err := Revision(parseSpec(t, flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIExtract, aiExtract: {model: m, fields: [{name: n}]}, next: b}
- {id: b, type: AIReply, aiReply: {model: m, systemPrompt: hi}, next: end}
- {id: end, type: End}
`)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Revision(parseSpec(t, flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIExtract, aiExtract: {model: m, history: 0, fields: [{name: n, type: String}]}, next: b}
- {id: b, type: AIReply, aiReply: {model: m, systemPrompt: hi, history: 6}, next: end}
- {id: end, type: End}
`)))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("spelling out the AI defaults changed the revision: %s vs %s", a, b)
	}
}

const replyFlow = `
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "How can I help?"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 10m}, next: answer}
- id: answer
  type: AIReply
  aiReply:
    model: support-llm
    systemPrompt: "You are the assistant of Harbour Yoga."
    context: "The contact is {{ contact.name }}."
    history: 3
  next: end
  onError: sorry
- {id: sorry, type: SendMessage, sendMessage: {text: "Sorry, try again later."}, next: end}
- {id: end, type: End}
`

func modelAnswer(effect, content string) Event {
	return ModelResult{EffectID: effect, Content: content}.Event()
}

func TestStepAIReply(t *testing.T) {
	flow := flowOf(replyFlow)
	before := []Event{says("m1", "hi"), says("m2", "Do you have classes on Sunday?")}
	call := `model 0e959c850f24911b.4 @answer:AIReply model=support-llm messages=[` +
		`{"role":"system","content":"You are the assistant of Harbour Yoga.\n\nThe contact is Ann."},` +
		`{"role":"user","content":"hi"},{"role":"assistant","content":"How can I help?"},{"role":"user","content":"Do you have classes on Sunday?"}] schema=null`
	runStepCases(t, []stepCase{
		{name: "the call carries the prompt and the last messages", flow: flow, before: before[:1], ev: before[1],
			want: []string{
				"cancelTimer 0e959c850f24911b.3",
				"log node_left @wait:WaitForReply branch=replied",
				"log node_entered @answer:AIReply",
				call,
			},
			session: sessionWant{status: StatusWaitingModel, node: "answer", message: "Do you have classes on Sunday?",
				wait: Wait{EffectID: "0e959c850f24911b.4"}},
		},
		{name: "the answer is sent, and with onError the node waits for the channel", flow: flow, before: before,
			ev: modelAnswer("0e959c850f24911b.4", "  Yes, at 10:00.\n"),
			want: []string{
				`send 0e959c850f24911b.5 @answer {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Yes, at 10:00."}`,
			},
			session: sessionWant{status: StatusWaitingSend, node: "answer", message: "Do you have classes on Sunday?",
				wait: Wait{EffectID: "0e959c850f24911b.5"}},
		},
		{name: "the channel took the answer", flow: flow, before: append(before[:2:2], modelAnswer("0e959c850f24911b.4", "Yes.")),
			ev: sent("0e959c850f24911b.5", "wamid.1"),
			want: []string{
				`log message_sent @answer:AIReply "wamid.1"`,
				"log node_left @answer:AIReply branch=answered",
				"log node_entered @end:End",
				"log run_ended @end:End \"end\"",
			},
			session: sessionWant{status: StatusEnded, node: "end", message: "Do you have classes on Sunday?"},
		},
		{name: "a refusal takes onError, without the refusal in the log", flow: flow, before: before,
			ev: ModelResult{EffectID: "0e959c850f24911b.4", Refusal: "I cannot help with that secret"}.Event(),
			want: []string{
				`log error @answer:AIReply "the model refused to answer"`,
				"log node_left @answer:AIReply branch=error",
				"log node_entered @sorry:SendMessage",
				`send 0e959c850f24911b.5 @sorry {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Sorry, try again later."}`,
				"log node_left @sorry:SendMessage branch=next",
				"log node_entered @end:End",
				"log run_ended @end:End \"end\"",
			},
			session: sessionWant{status: StatusEnded, node: "end", message: "Do you have classes on Sunday?"},
		},
		{name: "an empty answer takes onError", flow: flow, before: before, ev: modelAnswer("0e959c850f24911b.4", " \n"),
			want: []string{
				`log error @answer:AIReply "the model's answer is empty"`,
				"log node_left @answer:AIReply branch=error",
				"log node_entered @sorry:SendMessage",
				`send 0e959c850f24911b.5 @sorry {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Sorry, try again later."}`,
				"log node_left @sorry:SendMessage branch=next",
				"log node_entered @end:End",
				"log run_ended @end:End \"end\"",
			},
			session: sessionWant{status: StatusEnded, node: "end", message: "Do you have classes on Sunday?"},
		},
		{name: "a failed call takes onError", flow: flow, before: before,
			ev: ModelResult{EffectID: "0e959c850f24911b.4", Err: "timeout after 30s"}.Event(),
			want: []string{
				`log error @answer:AIReply "the model call failed: timeout after 30s"`,
				"log node_left @answer:AIReply branch=error",
				"log node_entered @sorry:SendMessage",
				`send 0e959c850f24911b.5 @sorry {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Sorry, try again later."}`,
				"log node_left @sorry:SendMessage branch=next",
				"log node_entered @end:End",
				"log run_ended @end:End \"end\"",
			},
			session: sessionWant{status: StatusEnded, node: "end", message: "Do you have classes on Sunday?"},
		},
		{name: "a stale result is ignored", flow: flow, before: before, ev: modelAnswer("0e959c850f24911b.3", "late"),
			want:    []string{},
			session: sessionWant{status: StatusWaitingModel, node: "answer", message: "Do you have classes on Sunday?", wait: Wait{EffectID: "0e959c850f24911b.4"}},
		},
		{name: "a message during the call is recorded, not answered", flow: flow, before: before, ev: says("m3", "hello?"),
			want: []string{
				`log message_ignored @answer:AIReply "recorded as message.*; the flow goes on when the AIReply node completes"`,
			},
			session: sessionWant{status: StatusWaitingModel, node: "answer", message: "hello?", wait: Wait{EffectID: "0e959c850f24911b.4"}},
		},
	})
}

func TestStepAIReplySaveAsAndCut(t *testing.T) {
	p := mustCompile(t, flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIReply, aiReply: {model: m, systemPrompt: "Say hi", saveAs: greeting, history: 1}, next: b}
- {id: b, type: AIReply, aiReply: {model: m, systemPrompt: "Say more"}, next: end}
- {id: end, type: End}
`))
	s, fx := Step(p, nil, says("m1", "hello"), t0)
	call := lastOf(fx, EffectModelCall)
	if call == nil || len(call.Model.Messages) != 2 || call.Model.Messages[1].Content != "hello" {
		t.Fatalf("first call: %+v", call)
	}
	s, fx = Step(p, s, modelAnswer(call.Model.ID, "Hi Ann"), t0)
	if lastOf(fx, EffectSend) != nil {
		t.Error("an AIReply with saveAs sent its answer")
	}
	if s.Vars["greeting"] != "Hi Ann" {
		t.Errorf("vars.greeting = %v", s.Vars["greeting"])
	}
	call = lastOf(fx, EffectModelCall)
	long := strings.Repeat("é", 5000)
	_, fx = Step(p, s, modelAnswer(call.Model.ID, long), t0)
	send := lastOf(fx, EffectSend)
	if send == nil || len([]rune(send.Send.Message.Text)) != 4096 {
		t.Fatalf("a long answer is not cut to WhatsApp's 4096 characters: %v", send)
	}
}

func TestStepAIReplyWaitsForTheChannelWithOnError(t *testing.T) {
	p := mustCompile(t, flowOf(replyFlow))
	s, _ := Step(p, nil, says("m1", "hi"), t0)
	s, fx := Step(p, s, says("m2", "question"), t0)
	call := lastOf(fx, EffectModelCall)
	s, fx = Step(p, s, modelAnswer(call.Model.ID, "an answer"), t0)
	send := lastOf(fx, EffectSend)
	if s.Status != StatusWaitingSend || send == nil || s.Wait.EffectID != send.Send.ID {
		t.Fatalf("an AIReply with onError does not wait for its send: %s %+v", s.Status, s.Wait)
	}
	s, fx = Step(p, s, sendFailed(send.Send.ID), t0)
	got := strings.Join(effectLines(fx), "\n")
	for _, want := range []string{
		`log message_failed @answer:AIReply "Re-engagement message (code 131047, permanent)"`,
		"log node_left @answer:AIReply branch=error",
		"log node_entered @sorry:SendMessage",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

const classifyFlow = `
- {id: start, type: Start, next: route}
- id: route
  type: AIClassify
  aiClassify:
    model: support-llm
    instructions: "Messages to a yoga studio."
    labels:
    - {name: booking, description: "wants to book a class", next: book}
    - {name: prices, next: prices}
    default: other
    saveAs: intent
- {id: book, type: SendMessage, sendMessage: {text: "Let's book."}, next: end}
- {id: prices, type: SendMessage, sendMessage: {text: "10 EUR."}, next: end}
- {id: other, type: SendMessage, sendMessage: {text: "A person will answer."}, next: end}
- {id: end, type: End}
`

func TestStepAIClassify(t *testing.T) {
	p := mustCompile(t, flowOf(classifyFlow))
	s, fx := Step(p, nil, says("m1", "How much is a class?"), t0)
	call := lastOf(fx, EffectModelCall)
	if call == nil {
		t.Fatalf("no model call: %v", effectLines(fx))
	}
	m := call.Model
	wantSystem := "Classify the input into exactly one of these labels:\n- booking: wants to book a class\n- prices\n" +
		"Answer with the label that fits best, and your confidence from 0 to 1 (or null).\n\nMessages to a yoga studio."
	if len(m.Messages) != 2 || m.Messages[0].Content != wantSystem || m.Messages[1] != (ModelMessage{Role: RoleUser, Content: "How much is a class?"}) {
		t.Errorf("messages = %+v", m.Messages)
	}
	var schema map[string]any
	if m.Schema == nil || json.Unmarshal(m.Schema.Schema, &schema) != nil || m.Schema.Name != "classification" {
		t.Fatalf("schema = %+v", m.Schema)
	}
	enum := schema["properties"].(map[string]any)["label"].(map[string]any)["enum"]
	if b, _ := json.Marshal(enum); string(b) != `["booking","prices"]` {
		t.Errorf("the schema's labels are %s", b)
	}

	cases := []struct {
		name, answer, node, intent string
		errLog                     string
	}{
		{"a label with a confidence", `{"label":"prices","confidence":0.93}`, "prices", `{"confidence":0.93,"label":"prices"}`, ""},
		{"a label without confidence", `{"label":"booking","confidence":null}`, "book", `{"confidence":null,"label":"booking"}`, ""},
		{"a label the node does not have", `{"label":"weather","confidence":1}`, "other", `{"confidence":null,"label":""}`, "the answer names none of the node's labels; taking default"},
		{"a confidence out of range", `{"label":"prices","confidence":7}`, "other", `{"confidence":null,"label":""}`, "the answer's confidence is not a number from 0 to 1; taking default"},
		{"not JSON", `prices`, "other", `{"confidence":null,"label":""}`, "the answer is not a JSON object with a label; taking default"},
		{"JSON without a label", `{"intent":"prices"}`, "other", `{"confidence":null,"label":""}`, "the answer is not a JSON object with a label; taking default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s2, fx := Step(p, cloneForTest(t, s), modelAnswer(m.ID, tc.answer), t0)
			send := lastOf(fx, EffectSend)
			if send == nil || send.Send.NodeID != tc.node {
				t.Fatalf("went to %v, want %s: %v", send, tc.node, effectLines(fx))
			}
			b, _ := json.Marshal(s2.Vars["intent"])
			if string(b) != tc.intent {
				t.Errorf("vars.intent = %s, want %s", b, tc.intent)
			}
			logged := strings.Join(effectLines(fx), "\n")
			if tc.errLog != "" && !strings.Contains(logged, tc.errLog) {
				t.Errorf("missing the error %q in\n%s", tc.errLog, logged)
			}
			if strings.Contains(logged, "weather") {
				t.Error("the answer's text reached the log")
			}
		})
	}
	t.Run("a failed call without onError takes default", func(t *testing.T) {
		_, fx := Step(p, cloneForTest(t, s), ModelResult{EffectID: m.ID, Err: "HTTP 500"}.Event(), t0)
		if send := lastOf(fx, EffectSend); send == nil || send.Send.NodeID != "other" {
			t.Fatalf("%v", effectLines(fx))
		}
	})
}

const extractFlow = `
- {id: start, type: Start, next: read}
- id: read
  type: AIExtract
  aiExtract:
    model: support-llm
    input: "{{ message.text }} (from {{ contact.name }})"
    fields:
    - {name: orderNumber, type: String, required: true, description: "4 to 10 digits"}
    - {name: quantity, type: Integer}
    - {name: price, type: Number}
    - {name: gift, type: Boolean}
    - {name: size, enum: [S, M, L]}
  next: done
  onError: ask
- {id: done, type: SendMessage, sendMessage: {text: "Order {{ vars.orderNumber }}"}, next: end}
- {id: ask, type: SendMessage, sendMessage: {text: "Which order?"}, next: end}
- {id: end, type: End}
`

func TestStepAIExtract(t *testing.T) {
	p := mustCompile(t, flowOf(extractFlow))
	s, fx := Step(p, nil, says("m1", "order 12345, two of them"), t0)
	call := lastOf(fx, EffectModelCall)
	if call == nil || call.Model.Messages[len(call.Model.Messages)-1].Content != "order 12345, two of them (from Ann)" {
		t.Fatalf("call = %+v", call)
	}
	var schema struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(call.Model.Schema.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(schema.Properties["orderNumber"].Type); string(b) != `"string"` {
		t.Errorf("a required field is typed %s", b)
	}
	if b, _ := json.Marshal(schema.Properties["quantity"].Type); string(b) != `["integer","null"]` {
		t.Errorf("an optional Integer is typed %s", b)
	}
	if b, _ := json.Marshal(schema.Properties["size"].Enum); string(b) != `["S","M","L",null]` {
		t.Errorf("an optional enum is %s", b)
	}
	if len(schema.Required) != 5 {
		t.Errorf("strict mode needs every property required: %v", schema.Required)
	}

	cases := []struct {
		name, answer, node, vars, errLog string
	}{
		{"every field", `{"orderNumber":"12345","quantity":2,"price":9,"gift":true,"size":"M"}`, "done",
			`{"gift":true,"orderNumber":"12345","price":9.0,"quantity":2,"size":"M"}`, ""},
		{"optional fields null or absent", `{"orderNumber":"12345","quantity":2.0,"gift":null}`, "done",
			`{"gift":null,"orderNumber":"12345","price":null,"quantity":2,"size":null}`, ""},
		{"a required field missing", `{"orderNumber":null,"quantity":2}`, "ask", "",
			"the answer lacks the required field orderNumber"},
		{"a required field empty", `{"orderNumber":""}`, "ask", "", "the answer lacks the required field orderNumber"},
		{"values of the wrong type", `{"orderNumber":"1","quantity":2.5,"gift":"yes","size":"XL"}`, "ask", "",
			"quantity is not an integer; gift is not true or false; size is not one of the field's enum values"},
		{"not an object", `["12345"]`, "ask", "", "the answer is not a JSON object of the fields"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s2, fx := Step(p, cloneForTest(t, s), modelAnswer(call.Model.ID, tc.answer), t0)
			send := lastOf(fx, EffectSend)
			if send == nil || send.Send.NodeID != tc.node {
				t.Fatalf("went to %v, want %s: %v", send, tc.node, effectLines(fx))
			}
			vars := ""
			if len(s2.Vars) > 0 {
				b, _ := json.Marshal(s2.Vars)
				vars = string(b)
			}
			if vars != tc.vars {
				t.Errorf("vars = %s, want %s", vars, tc.vars)
			}
			if logged := strings.Join(effectLines(fx), "\n"); tc.errLog != "" && !strings.Contains(logged, tc.errLog) {
				t.Errorf("missing the error %q in\n%s", tc.errLog, logged)
			}
		})
	}
}

// A value over the variable budget takes onError, and the fields set
// before it are put back: an AIExtract stores all its fields or none.
func TestStepAIExtractWithinTheBudgets(t *testing.T) {
	p := mustCompile(t, flowOf(`
- {id: start, type: Start, next: read}
- {id: read, type: AIExtract, aiExtract: {model: m, fields: [{name: a}, {name: b}]}, next: done, onError: ask}
- {id: done, type: SendMessage, sendMessage: {text: "ok"}, next: end}
- {id: ask, type: SendMessage, sendMessage: {text: "too long"}, next: end}
- {id: end, type: End}
`))
	s, fx := Step(p, nil, says("m1", "hi"), t0)
	call := lastOf(fx, EffectModelCall)
	s.Vars = Values{"a": "before"}
	big := strings.Repeat("x", MaxVariableBytes)
	answer, _ := json.Marshal(map[string]string{"a": "new", "b": big})
	s2, fx := Step(p, s, modelAnswer(call.Model.ID, string(answer)), t0)
	if send := lastOf(fx, EffectSend); send == nil || send.Send.NodeID != "ask" {
		t.Fatalf("went to %v: %v", send, effectLines(fx))
	}
	if b, _ := json.Marshal(s2.Vars); string(b) != `{"a":"before"}` {
		t.Errorf("vars = %s, want a as it was and no b", b)
	}
	if logged := strings.Join(effectLines(fx), "\n"); !strings.Contains(logged, "budget=variable_size") {
		t.Errorf("the budget is not named:\n%s", logged)
	}

	// An AIReply's saveAs too.
	p = mustCompile(t, flowOf(`
- {id: start, type: Start, next: answer}
- {id: answer, type: AIReply, aiReply: {model: m, systemPrompt: "Answer.", saveAs: reply}, next: done, onError: ask}
- {id: done, type: SendMessage, sendMessage: {text: "ok"}, next: end}
- {id: ask, type: SendMessage, sendMessage: {text: "too long"}, next: end}
- {id: end, type: End}
`))
	s, fx = Step(p, nil, says("m1", "hi"), t0)
	call = lastOf(fx, EffectModelCall)
	_, fx = Step(p, s, modelAnswer(call.Model.ID, big+"y"), t0)
	if send := lastOf(fx, EffectSend); send == nil || send.Send.NodeID != "ask" {
		t.Fatalf("AIReply went to %v: %v", send, effectLines(fx))
	}
}

func TestAIHistoryIsTheRecentConversation(t *testing.T) {
	p := mustCompile(t, flowOf(`
- {id: start, type: Start, next: w}
- {id: w, type: WaitForReply, waitForReply: {}, next: route, onTimeout: end}
- id: route
  type: AIClassify
  aiClassify: {model: m, history: 2, labels: [{name: x, next: answer}], default: answer}
- {id: answer, type: AIReply, aiReply: {model: m, systemPrompt: s, history: 12}, next: w}
- {id: end, type: End}
`))
	// The flow never ends: the conversation keeps growing past MaxRecent.
	s, _ := Step(p, nil, says("m0", "start"), t0)
	var fx []Effect
	for i := 0; i < 10; i++ {
		s, fx = Step(p, s, says("m"+string(rune('a'+i)), "q"+string(rune('a'+i))), t0)
		call := lastOf(fx, EffectModelCall)
		if call == nil {
			t.Fatalf("turn %d: no classify call: %v", i, effectLines(fx))
		}
		msgs := call.Model.Messages
		last := msgs[len(msgs)-1]
		if last.Content != "q"+string(rune('a'+i)) || last.Role != RoleUser {
			t.Errorf("turn %d: the input is %+v", i, last)
		}
		if i >= 1 && (len(msgs) != 4 || msgs[1].Role != RoleUser || msgs[2].Role != RoleAssistant) {
			t.Errorf("turn %d: the classify history (2 earlier messages) is %+v", i, msgs[1:])
		}
		s, fx = Step(p, s, modelAnswer(call.Model.ID, `{"label":"x","confidence":null}`), t0)
		call = lastOf(fx, EffectModelCall)
		if want := min(2*i+2, MaxRecent); len(call.Model.Messages)-1 != want {
			t.Errorf("turn %d: the reply history has %d messages, want %d", i, len(call.Model.Messages)-1, want)
		}
		s, _ = Step(p, s, modelAnswer(call.Model.ID, "a"+string(rune('a'+i))), t0)
	}
	if len(s.Recent) != MaxRecent {
		t.Errorf("the session keeps %d lines", len(s.Recent))
	}
	roundTrip(t, s)
}

func TestAITemplateErrorsTakeTheFailurePath(t *testing.T) {
	p := mustCompile(t, flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: AIReply, aiReply: {model: m, systemPrompt: "{{ vars.missing.x }}"}, next: end, onError: end}
- {id: end, type: End}
`))
	s, fx := Step(p, nil, says("m1", "hi"), t0)
	if lastOf(fx, EffectModelCall) != nil || s.Status != StatusEnded {
		t.Fatalf("%s: %v", s.Status, effectLines(fx))
	}
	if got := strings.Join(effectLines(fx), "\n"); !strings.Contains(got, "rendering the systemPrompt") {
		t.Errorf("no error logged:\n%s", got)
	}
}

func TestAIRevisionChangeKeepsTheCall(t *testing.T) {
	old := mustCompile(t, flowOf(classifyFlow))
	s, fx := Step(old, nil, says("m1", "book me in"), t0)
	call := lastOf(fx, EffectModelCall)
	neu := mustCompile(t, flowOf(strings.Replace(classifyFlow, "Let's book.", "Booking!", 1)))
	_, fx = Step(neu, s, modelAnswer(call.Model.ID, `{"label":"booking","confidence":0.5}`), t0)
	if send := lastOf(fx, EffectSend); send == nil || send.Send.Message.Text != "Booking!" {
		t.Errorf("the new revision did not take over the waiting call: %v", effectLines(fx))
	}
	_ = message.WhatsApp
}

// lastOf is the last effect of a kind, or nil.
func lastOf(fx []Effect, k EffectKind) *Effect {
	for i := len(fx) - 1; i >= 0; i-- {
		if fx[i].Kind == k {
			e := fx[i]
			return &e
		}
	}
	return nil
}

// cloneForTest copies a session through its JSON form, so each case of a
// table starts from the same state.
func cloneForTest(t *testing.T, s *Session) *Session {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var c Session
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// FuzzModelAnswer: whatever a model answers (structured output is only
// text the flow validates), the AI nodes never panic, the session stays
// storable and the answer's text never reaches a log line.
func FuzzModelAnswer(f *testing.F) {
	for _, s := range []string{
		`{"label":"booking","confidence":0.5}`, `{"label":"prices"}`, `{"label":7}`, `{"label":"x","confidence":"high"}`,
		`{"orderNumber":"12345","quantity":2,"price":1e400,"gift":true,"size":"S"}`, `{"orderNumber":{"a":[1,2]}}`,
		"plain text", "", "null", "[]", `{"label":"booking","confidence":1e-400}`, "\xff\xfe",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	p := mustCompile(f, flowOf(`
- {id: start, type: Start, next: route}
- id: route
  type: AIClassify
  aiClassify: {model: m, labels: [{name: booking, next: read}, {name: prices, next: reply}], default: reply, saveAs: intent}
- id: read
  type: AIExtract
  aiExtract:
    model: m
    fields:
    - {name: orderNumber, required: true}
    - {name: quantity, type: Integer}
    - {name: price, type: Number}
    - {name: gift, type: Boolean}
    - {name: size, enum: [S, M, L]}
  next: reply
  onError: reply
- {id: reply, type: AIReply, aiReply: {model: m, systemPrompt: "{{ vars.intent }}"}, next: end, onError: end}
- {id: end, type: End}
`))
	f.Fuzz(func(t *testing.T, answer string, how uint8) {
		s, fx := Step(p, nil, says("m1", "hello"), t0)
		for i := 0; i < 4; i++ {
			call := lastOf(fx, EffectModelCall)
			if call == nil || s.Status != StatusWaitingModel {
				break
			}
			r := ModelResult{EffectID: call.Model.ID, Content: answer}
			switch (how >> (2 * i)) & 3 {
			case 1:
				r = ModelResult{EffectID: call.Model.ID, Refusal: answer}
			case 2:
				r = ModelResult{EffectID: call.Model.ID, Err: "HTTP 500"}
			}
			s, fx = Step(p, s, r.Event(), t0)
			for _, e := range fx {
				if e.Kind == EffectLog && len(answer) > 8 && strings.Contains(e.Log.Message, answer) {
					t.Fatalf("the answer reached the log: %q", e.Log.Message)
				}
			}
			roundTrip(t, s)
		}
	})
}
