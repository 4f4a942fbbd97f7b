package generate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/generate"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// hoursBot is the flow the stub model writes, its hello node going to next
// (a node that does not exist first, then the End).
func hoursBot(next string) string {
	return `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: hours-bot}
spec:
  state: Unpublished
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "We open at 9."}, next: ` + next + `}
  - {id: end, type: End}
`
}

var (
	brokenAnswer = "Here is the flow.\n\n```yaml\n" + hoursBot("ending") + "```\n\n```yaml\n" + testsYAML + "```\n"
	fixedAnswer  = "```yaml\n" + hoursBot("end") + "```\n```yaml\n" + testsYAML + "```\n"
)

const testsYAML = `flow: hours-bot
tests:
- name: says the hours
  transcript:
  - user: when do you open?
  - bot: We open at 9.
  - ended: true
`

func client(t *testing.T, answers ...string) (*model.Client, *sandbox.Server) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{ModelAPIKey: "sk-gen"})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	for _, a := range answers {
		if _, err := sb.AddAnswer(sandbox.Answer{Model: "gpt-test", Content: a}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := model.New(model.Config{BaseURL: srv.URL + "/v1", Model: "gpt-test", Timeout: 10 * time.Second,
		APIKey: func() (string, error) { return "sk-gen", nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c, sb
}

// A first answer that does not lint is repaired: the model gets the
// field-path problems and answers again.
func TestRepairLoop(t *testing.T) {
	c, sb := client(t, brokenAnswer, fixedAnswer)
	var progress bytes.Buffer
	res, err := generate.Run(context.Background(), c, generate.Request{Description: "tell people we open at 9", Name: "hours-bot", Trigger: "WhatsApp"}, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if res.Attempts != 2 || !res.Passed() || string(res.Flow) != strings.TrimSuffix(strings.TrimPrefix(fixedAnswer, "```yaml\n"), "```\n```yaml\n"+testsYAML+"```\n") {
		t.Errorf("result: %+v\n%s", res, progress.String())
	}
	for _, want := range []string{
		"asking gpt-test (answer 1 of at most 3)",
		"the flow does not lint (1 problem):",
		`line 9: spec.nodes[1].next: Not found: "ending": no node has id "ending"`,
		"asking again with what is wrong",
		"the flow lints: 3 nodes",
		"its tests: 1 passed, 0 failed",
	} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	calls := sb.Messages(sandbox.Query{Channel: sandbox.ModelChannel})
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	var second struct{ Messages []model.Message }
	if err := json.Unmarshal(calls[1].Body, &second); err != nil {
		t.Fatal(err)
	}
	sys, last := second.Messages[0].Content, second.Messages[len(second.Messages)-1].Content
	if !strings.Contains(sys, "spec.nodes[].aiReply.systemPrompt (string, required)") || !strings.Contains(sys, "kind: LanguageModel") {
		t.Error("the system prompt lacks the API reference or the examples")
	}
	if second.Messages[2].Role != "assistant" || !strings.Contains(last, `line 9: spec.nodes[1].next: Not found: "ending"`) {
		t.Errorf("the repair request does not carry the problem:\n%s", last)
	}
}

// Failing tests are fed back too; a flow that never lints is never returned.
func TestNoValidFlow(t *testing.T) {
	c, _ := client(t, brokenAnswer, "no YAML here", brokenAnswer)
	var progress bytes.Buffer
	res, err := generate.Run(context.Background(), c, generate.Request{Description: "d", Name: "hours-bot"}, &progress)
	if res != nil || !errors.Is(err, generate.ErrNoValidFlow) {
		t.Fatalf("res %v, err %v", res, err)
	}
	if !strings.Contains(progress.String(), "the answer has no ChatFlow manifest") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestFailingTestsAreFedBack(t *testing.T) {
	wrongTest := strings.Replace(fixedAnswer, "bot: We open at 9.", "bot: We open at 10.", 1)
	c, sb := client(t, wrongTest, wrongTest)
	var progress bytes.Buffer
	res, err := generate.Run(context.Background(), c, generate.Request{Description: "d", Name: "hours-bot", Attempts: 2}, &progress)
	if res == nil || res.Passed() || err == nil || !strings.Contains(err.Error(), "its tests do not pass after 2 answers") {
		t.Fatalf("res %+v, err %v", res, err)
	}
	calls := sb.Messages(sandbox.Query{Channel: sandbox.ModelChannel})
	if len(calls) != 2 || !strings.Contains(string(calls[1].Body), `These transcript tests fail`) || !strings.Contains(string(calls[1].Body), `want \"We open at 10.\"`) {
		t.Errorf("the failure was not fed back: %s", calls[len(calls)-1].Body)
	}
}

func TestWrongNameOrTrigger(t *testing.T) {
	c, _ := client(t, fixedAnswer, fixedAnswer)
	var progress bytes.Buffer
	_, err := generate.Run(context.Background(), c, generate.Request{Description: "d", Name: "hours-bot", Trigger: "Viber", Attempts: 2}, &progress)
	if !errors.Is(err, generate.ErrNoValidFlow) || !strings.Contains(progress.String(), "spec.trigger.type is WhatsApp: the flow must be triggered by Viber") {
		t.Errorf("err %v\n%s", err, progress.String())
	}
}
