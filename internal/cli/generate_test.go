package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

const generatedFlow = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: hours-bot}
spec:
  state: Unpublished
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "We open at 9."}, next: %s}
  - {id: end, type: End}
`

const generatedTests = `flow: hours-bot
tests:
- name: says the hours
  transcript:
  - user: when do you open?
  - bot: We open at 9.
`

// chatflow generate against the sandbox's model: a first answer that does
// not lint is repaired, then the flow and its tests are written, and they
// pass chatflow lint and chatflow test.
func TestGenerateCommand(t *testing.T) {
	sb := sandbox.New(sandbox.Options{ModelAPIKey: "sk-cli"})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	answer := func(next string) string {
		return "```yaml\n" + strings.Replace(generatedFlow, "%s", next, 1) + "```\n\n```yaml\n" + generatedTests + "```\n"
	}
	for _, a := range []string{answer("nowhere"), answer("end")} {
		if _, err := sb.AddAnswer(sandbox.Answer{Content: a}); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TEST_GENERATE_KEY", "sk-cli")
	dir := t.TempDir()
	out := filepath.Join(dir, "hours-bot.yaml")
	got := run(t, "", "generate", "tell people we open at 9", "--trigger", "WhatsApp", "-o", out,
		"--model-url", srv.URL+"/v1", "--model", "gpt-test", "--api-key-env", "TEST_GENERATE_KEY")
	for _, want := range []string{
		"generating hours-bot with gpt-test",
		"the flow does not lint (1 problem)",
		"asking again with what is wrong",
		"its tests: 1 passed, 0 failed",
		"wrote " + out + " and " + filepath.Join(dir, "hours-bot.test.yaml"),
		"--- exit 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	flow, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(flow), "next: end}") {
		t.Fatalf("the flow written: %v\n%s", err, flow)
	}
	if lint := run(t, "", "lint", out); !strings.Contains(lint, "--- exit 0") {
		t.Errorf("the written flow does not lint:\n%s", lint)
	}
	if test := run(t, "", "test", "-f", out); !strings.Contains(test, "1 passed, 0 failed") {
		t.Errorf("the written tests do not pass:\n%s", test)
	}

	// No answer lints: nothing is written.
	for range 2 {
		_, _ = sb.AddAnswer(sandbox.Answer{Content: answer("nowhere")})
	}
	other := filepath.Join(dir, "other.yaml")
	got = run(t, "", "generate", "x", "--name", "hours-bot", "-o", other, "--attempts", "2",
		"--model-url", srv.URL+"/v1", "--model", "gpt-test", "--api-key-env", "TEST_GENERATE_KEY")
	if !strings.Contains(got, "the model gave no flow that lints after 2 answers") || !strings.Contains(got, "--- exit 1") {
		t.Errorf("output:\n%s", got)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("a flow that does not lint was written: %v", err)
	}
	if got := run(t, "", "generate", "x", "-o", out, "--model-url", srv.URL+"/v1"); !strings.Contains(got, "exists: use --force") {
		t.Errorf("an existing file was not protected:\n%s", got)
	}
}
