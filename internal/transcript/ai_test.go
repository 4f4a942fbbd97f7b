package transcript_test

import (
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

const aiFlowFile = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: support}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: route}
  - id: route
    type: AIClassify
    aiClassify:
      model: support-llm
      labels:
      - {name: order, description: "asks about an order", next: details}
      - {name: question, next: answer}
      default: human
      saveAs: intent
  - id: details
    type: AIExtract
    aiExtract:
      model: support-llm
      fields: [{name: orderNumber, required: true}]
    next: status
    onError: ask
  - {id: status, type: SendMessage, sendMessage: {text: "Order {{ vars.orderNumber }} ships today."}, next: end}
  - {id: ask, type: SendMessage, sendMessage: {text: "Which order number?"}, next: end}
  - id: answer
    type: AIReply
    aiReply: {model: support-llm, systemPrompt: "You answer questions about Shop."}
    next: end
    onError: human
  - {id: human, type: SendMessage, sendMessage: {text: "A person will answer."}, next: end}
  - {id: end, type: End}
`

const aiTests = `
flow: support
ai:
  answer: "We open at 9."
tests:
- name: an order question
  ai:
    route: {label: order, confidence: 0.9}
    details: {json: {orderNumber: "4521"}}
  transcript:
  - user: where is order 4521?
  - bot: Order 4521 ships today.
  - vars: {intent: {label: order, confidence: 0.9}, orderNumber: "4521"}
  - ended: true
- name: a question answered by the model
  ai: {route: {label: question}}
  transcript:
  - user: when do you open?
  - bot: We open at 9.
  - ended: true
- name: an extraction without the required field
  ai:
    route: {label: order}
    details: {json: {orderNumber: null}}
  transcript:
  - user: my order is late
  - bot: Which order number?
- name: answers in turn, then an invalid label takes default
  ai:
    route: [{label: question}, {json: {label: weather}}]
    answer: [{refusal: "no"}, {error: timeout}]
  transcript:
  - user: a
  - bot: A person will answer.
  - user: b
  - bot: A person will answer.
  - vars: {intent: {label: ""}}
`

func loadAI(t *testing.T, tests string) (*transcript.File, []transcript.Result) {
	t.Helper()
	tf, prog, ch, err := transcript.Load(manifest.Source{Name: "support.yaml", Data: []byte(aiFlowFile)},
		manifest.Source{Name: "support.test.yaml", Data: []byte(tests)})
	if err != nil {
		t.Fatal(err)
	}
	return tf, transcript.Run(tf, prog, ch, nil)
}

func TestAIStubs(t *testing.T) {
	_, results := loadAI(t, aiTests)
	if len(results) != 4 {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s:\n%s", r.Name, r.Failure)
		}
	}
}

func TestAINodeWithoutStubFails(t *testing.T) {
	_, results := loadAI(t, `
tests:
- name: no stub
  transcript:
  - user: hi
  - bot: A person will answer.
`)
	if len(results) != 1 || results[0].Passed() ||
		!strings.Contains(results[0].Failure, `the flow asked LanguageModel support-llm at AIClassify node "route" and the test has no stub for it: add ai: {route: {label: <one of its labels>}}`) {
		t.Errorf("%+v", results)
	}
}

func TestAIStubShapes(t *testing.T) {
	for _, bad := range []string{
		"ai: {route: {label: a, text: b}}",
		"ai: {route: {confidence: 0.5}}",
		"ai: {route: []}",
		"ai: {route: {labels: a}}",
	} {
		_, err := transcript.Parse("x.test.yaml", []byte(bad+"\ntests: [{name: t, transcript: [{user: hi}]}]\n"))
		if err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// Play records each model call with the answer it got, for the replay
// through an executor.
func TestPlayRecordsModelCalls(t *testing.T) {
	tf, prog, ch, err := transcript.Load(manifest.Source{Name: "support.yaml", Data: []byte(aiFlowFile)},
		manifest.Source{Name: "support.test.yaml", Data: []byte(aiTests)})
	if err != nil {
		t.Fatal(err)
	}
	xs, err := transcript.Play(tf, prog, ch, &tf.Tests[0])
	if err != nil || len(xs) != 1 {
		t.Fatalf("%d exchanges, %v", len(xs), err)
	}
	ms := xs[0].Models
	if len(ms) != 2 || ms[0].Call.NodeID != "route" || ms[0].Result.Content != `{"confidence":0.9,"label":"order"}` ||
		ms[1].Call.NodeID != "details" || ms[1].Result.Content != `{"orderNumber":"4521"}` {
		t.Errorf("models: %+v", ms)
	}
	if last := ms[0].Call.Messages[len(ms[0].Call.Messages)-1]; last.Content != "where is order 4521?" {
		t.Errorf("the classify input: %+v", last)
	}
}
